"""`user`, `role`, `auth` and `--user`: one script run in lockstep on two fresh servers with
identical histories, etcdctl on a reference etcd and keyraftctl on the server under test;
stdout, stderr and exit codes must match exactly once member and cluster ids are hidden.

The server under test is a fixture parameter: keyraft (add "etcd" to `params` to check
keyraftctl alone against etcd). etcd runs with bcrypt's lowest cost, so each user add and
authenticate takes ~1 ms instead of ~60 ms.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import termios
from collections.abc import Iterator

import pytest

from keyraft.ctl.client import ClientConfig, GatewayClient, b64
from keyraft.ctl.output import make_printer
from tests.ctl.support import Reader, Result, ctl_command, etcdctl, invoke, normalized, spawn, stop
from tests.support.servers import Member, etcd_member, free_port, keyraft_member

FAST_BCRYPT = ("--bcrypt-cost", "4")
ROOT = ("--user", "root:rootpw")
# speakeasy shells out to stty, which complains when stdin is not a terminal
STTY_NOISE = re.compile(r"^stty: .*\n", re.MULTILINE)

# (arguments, stdin)
STEPS: list[tuple[tuple[str, ...], bytes | None]] = [
    # users
    (("user", "add", "alice:pw1"), None),
    (("user", "add", "alice:pw1"), None),
    (("-w", "json", "user", "add", "bob:pw2"), None),
    (("-w", "fields", "user", "add", "--new-user-password", "pw3", "carol"), None),
    (("user", "add", "--interactive=false", "dave"), b"pw4 ignored\n"),
    (("user", "add", "erin"), b"pw5\npw5\n"),
    (("user", "add", "--interactive", "gina"), b"pw6\npw6\n"),
    (("user", "add", "--no-password", "frank"), None),
    (("user", "list"), None),
    (("-w", "json", "user", "list"), None),
    (("-w", "fields", "user", "list"), None),
    (("-w", "table", "user", "list"), None),
    # roles and their permissions: a key, a range, a prefix, from a key, everything
    (("role", "add", "reader"), None),
    (("-w", "json", "role", "add", "writer"), None),
    (("role", "add", "reader"), None),
    (("role", "grant-permission", "reader", "read", "foo"), None),
    (("role", "grant-permission", "reader", "--prefix", "read", "pre/"), None),
    (("role", "grant-permission", "reader", "READWRITE", "a", "c"), None),
    (("role", "grant-permission", "reader", "readwrite", "k1", "k2"), None),
    (("role", "grant-permission", "reader", "write", "from", "--from-key"), None),
    (("-w", "json", "role", "grant-permission", "writer", "write", "", "--prefix"), None),
    (("-w", "fields", "role", "grant-permission", "writer", "read", "w"), None),
    (("role", "grant-permission", "nobody", "read", "x"), None),
    (("role", "get", "reader"), None),
    (("-w", "json", "role", "get", "reader"), None),
    (("-w", "fields", "role", "get", "writer"), None),
    (("-w", "table", "role", "get", "reader"), None),
    (("role", "get", "nobody"), None),
    (("role", "list"), None),
    (("-w", "json", "role", "list"), None),
    (("-w", "fields", "role", "list"), None),
    (("role", "revoke-permission", "reader", "pre/", "--prefix"), None),
    (("role", "revoke-permission", "reader", "from", "--from-key"), None),
    (("role", "revoke-permission", "reader", "a", "c"), None),
    (("-w", "json", "role", "revoke-permission", "reader", "k1", "k2"), None),
    (("role", "revoke-permission", "writer", "", "--prefix"), None),
    (("role", "revoke-permission", "reader", "never"), None),
    (("role", "get", "reader"), None),
    # users and roles
    (("user", "grant-role", "alice", "reader"), None),
    (("-w", "json", "user", "grant-role", "alice", "writer"), None),
    (("user", "grant-role", "alice", "nobody"), None),
    (("user", "get", "alice"), None),
    (("user", "get", "alice", "--detail"), None),
    (("-w", "json", "user", "get", "alice"), None),
    (("-w", "json", "user", "get", "alice", "--detail"), None),
    (("-w", "fields", "user", "get", "alice"), None),
    (("-w", "table", "user", "get", "alice", "--detail"), None),
    (("user", "get", "bob"), None),
    (("user", "get", "nobody"), None),
    (("user", "revoke-role", "alice", "writer"), None),
    (("user", "revoke-role", "alice", "writer"), None),
    (("role", "delete", "writer"), None),
    (("-w", "json", "role", "delete", "writer"), None),
    (("user", "passwd", "--interactive=false", "alice"), b"alicepw\n"),
    (("-w", "json", "user", "passwd", "bob"), b"bobpw\nbobpw\n"),
    (("user", "passwd", "bob"), b"one\ntwo\n"),
    (("user", "delete", "carol"), None),
    (("-w", "json", "user", "delete", "dave"), None),
    (("user", "delete", "carol"), None),
    # authentication on
    (("auth", "enable"), None),
    (("user", "add", "root:rootpw"), None),
    (("--user", "root:rootpw", "put", "foo", "before"), None),  # auth off: no token needed
    (("auth", "enable"), None),  # gives root the root role it lacks
    (("auth", "enable"), None),
    (("get", "foo"), None),
    (("user", "list"), None),
    ((*ROOT, "put", "foo", "bar"), None),
    ((*ROOT, "get", "foo"), None),
    ((*ROOT, "-w", "json", "user", "get", "root"), None),
    ((*ROOT, "role", "get", "root"), None),
    (("--user", "root", "--password", "rootpw", "get", "foo"), None),
    (("--user", "root", "get", "foo"), b"rootpw\n"),
    (("--user", "root:rootpw", "--password", "rootpw", "get", "foo"), None),
    (("--user", "root:wrong", "get", "foo"), None),
    (("--user", "bad:pw", "get", "foo"), None),
    (("--user", "alice:alicepw", "get", "foo"), None),
    (("--user", "alice:alicepw", "put", "foo", "x"), None),
    (("--user", "alice:alicepw", "user", "list"), None),
    (("--user", "alice:alicepw", "auth", "disable"), None),
    ((*ROOT, "auth", "disable"), None),
    (("auth", "disable"), None),
    (("get", "foo"), None),
]


@pytest.fixture(scope="module", params=["keyraft"])
def pair(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Member, Member]]:
    """(reference etcd for etcdctl, server under test for keyraftctl), both fresh."""
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
        pytest.skip("real etcd and etcdctl are required")
    root = tmp_path_factory.mktemp("ctl-auth")
    reference = etcd_member(root, "reference", FAST_BCRYPT)
    if request.param == "etcd":
        target = etcd_member(root, "target", FAST_BCRYPT)
    else:
        target = keyraft_member(root, "target", FAST_BCRYPT)
    try:
        reference.start()
        target.start()
        yield reference, target
    finally:
        target.stop()
        reference.stop()


def _view(result: Result) -> tuple[int, str, str]:
    return result.code, normalized(result.text), STTY_NOISE.sub("", normalized(result.error))


def test_auth_script_matches_etcdctl(pair: tuple[Member, Member]) -> None:
    reference, target = pair
    mismatches = []
    for arguments, stdin in STEPS:
        ours = _view(invoke(target.client_url, *arguments, stdin=stdin))
        theirs = _view(etcdctl(reference.client_url, *arguments, stdin=stdin))
        assert "Traceback" not in ours[2]
        if ours != theirs:
            mismatches.append((arguments, ours, theirs))
    assert not mismatches, "\n\n".join(map(repr, mismatches))


def _dead() -> str:
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("user", "add"), "user add command requires user name as its argument"),
        (("user", "add", ":pw"), "empty user name is not allowed"),
        (("user", "list", "x"), "user list command requires no arguments"),
        (("user", "grant-role", "u"), "user grant command requires user name and role name"),
        (("role", "get"), "role get command requires role name as its argument"),
        (
            ("role", "grant-permission", "r", "read"),
            "role grant command requires role name, permission type, and key",
        ),
        (("role", "grant-permission", "r", "rw", "k"), "invalid permission type: rw"),
        (
            ("role", "grant-permission", "r", "read", "k", "--prefix", "--from-key"),
            "--from-key and --prefix flags are mutually exclusive",
        ),
        (
            ("role", "revoke-permission", "r", "a", "b", "--from-key"),
            "unexpected endkey argument with --from-key flag",
        ),
        (("auth", "enable", "now"), "auth enable command does not accept any arguments"),
    ],
)
def test_bad_arguments_are_refused_with_etcdctls_words(
    arguments: tuple[str, ...], message: str
) -> None:
    """etcdctl's ExitBadArgs (128) and its one-line message, no usage after it."""
    result = invoke(_dead(), *arguments)
    assert result.code == 128, result.error
    assert result.error.startswith(f"Error: {message}") and "Usage:" not in result.error


@pytest.mark.parametrize(
    ("stdin", "message"), [(b"\n", "empty password"), (b"a\nb\n", "given passwords are different")]
)
def test_password_confirmation(stdin: bytes, message: str) -> None:
    """Not a usage error: etcdctl's message and its ExitBadArgs (128)."""
    result = invoke(_dead(), "user", "add", "zoe", stdin=stdin)
    assert (result.code, result.error) == (128, f"Error: {message}\n")


def test_streams_carry_the_token(pair: tuple[Member, Member]) -> None:
    """Watch and lease keep-alive streams authenticate too (without a token they fail);
    a token the server forgot is renewed."""
    url = pair[1].client_url
    invoke(url, "user", "add", "root:rootpw")
    assert invoke(url, *ROOT, "auth", "enable").code == 0
    try:
        lease = invoke(url, *ROOT, "lease", "grant", "60").text.split()[1]
        kept = invoke(url, *ROOT, "lease", "keep-alive", "--once", lease)
        assert (kept.code, kept.text) == (0, f"lease {lease} keepalived with TTL(60)\n")
        put = invoke(url, *ROOT, "-w", "json", "put", "tok/k", "v")
        revision = put.text.split('"revision":')[1].split(",")[0]
        watch = [*ctl_command(), "--endpoints", url, *ROOT, "watch", "tok/k", "--rev", revision]
        process = spawn(watch, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdout is not None
        try:
            Reader(process.stdout.fileno()).wait_for(b"PUT\ntok/k\nv\n")
        finally:
            stop(process)
        stale = GatewayClient(ClientConfig(endpoints=(url,), user="root", password="rootpw"))
        stale._tokens[url] = "expired.1"  # renewed once, as clientv3 renews it
        try:
            assert stale.call("/v3/kv/range", {"key": b64("tok/k")})["count"] == "1"
        finally:
            stale.close()
        refused = invoke(url, "watch", "tok/k", "--rev", revision)
        # etcdctl 3.4 (measured): the reason, the canceled watch's error, exit 5
        assert (refused.code, refused.error) == (
            5,
            "watch was canceled (rpc error: code = InvalidArgument desc = etcdserver: user "
            "name is empty)\nError: watch is canceled by the server\n",
        )
    finally:
        assert invoke(url, *ROOT, "auth", "disable").code == 0


def _controlling_terminal() -> None:
    """In the child, after setsid: make stdin (the pty) its terminal, as a login shell's is."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_password_prompts_hide_what_is_typed(pair: tuple[Member, Member]) -> None:
    url = pair[1].client_url
    master, slave = os.openpty()
    process = spawn(
        [*ctl_command(), "--endpoints", url, "user", "add", "tty-user"],
        stdin=slave, stdout=slave, stderr=slave, preexec_fn=_controlling_terminal,
    )  # fmt: skip
    os.close(slave)
    reader = Reader(master)
    try:
        reader.wait_for(b"Password of tty-user:")
        os.write(master, b"secret-typed\n")
        reader.wait_for(b"Type password of tty-user again for confirmation:")
        os.write(master, b"secret-typed\n")
        reader.wait_for(b"User tty-user created")
        assert process.wait(15) == 0
    finally:
        stop(process)
        os.close(master)
    assert b"secret-typed" not in reader.data
    assert invoke(url, "user", "get", "tty-user").text == "User: tty-user\nRoles:\n"


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("simple", b"Authentication Status: true\nAuthRevision: 7\n"),
        ("json", b'{"header":{"revision":3},"enabled":true,"authRevision":7}\n'),
    ],
)
def test_auth_status_prints_as_etcdctl_3_5(
    output: str, expected: bytes, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    make_printer(output).auth_status(
        {"header": {"revision": "3"}, "enabled": True, "authRevision": "7"}
    )
    assert capsysbinary.readouterr().out == expected


def test_auth_status_needs_the_3_5_api(pair: tuple[Member, Member]) -> None:
    reference = pair[0]  # always etcd 3.4
    result = invoke(reference.client_url, "auth", "status")
    assert result.code == 1 and "an etcd 3.5 API" in result.error
