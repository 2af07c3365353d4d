"""Failures a person reads: no traceback, etcdctl's messages and exit codes."""

from __future__ import annotations

import shutil

import pytest

from tests.ctl.support import ctl_command, etcdctl, keyraftctl, run
from tests.support.servers import Member, free_port


def _dead() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_unreachable_endpoints_are_listed() -> None:
    first, second = _dead(), _dead()
    result = keyraftctl(f"{first},{second}", "--dial-timeout", "500ms", "get", "k")
    assert result.code == 1
    assert result.error.startswith("Error: no endpoint could be reached")
    assert f"{first}: connection refused" in result.error
    assert f"{second}: connection refused" in result.error
    assert "Traceback" not in result.error


def test_next_endpoint_is_tried_when_one_is_down(server: Member) -> None:
    assert keyraftctl(server.client_url, "put", "err/failover", "v").code == 0
    result = keyraftctl(f"{_dead()},{server.client_url}", "get", "err/failover")
    assert (result.code, result.text) == (0, "err/failover\nv\n")


def test_missing_key_prints_nothing(server: Member) -> None:
    result = keyraftctl(server.client_url, "get", "err/never-written")
    assert (result.code, result.out, result.err) == (0, b"", b"")


# Arguments etcdctl refuses before it dials, each with its own exit code: 128 (ExitBadArgs)
# for what a command checks itself, 1 for what pflag and cobra refuse (an unknown flag or
# command, a flag value that does not parse), 4 (ExitBadFeature) for a bad sort, output
# format or consistency. Scripts test these codes.
REFUSED = [
    ("put",),
    ("get",),
    ("del",),
    ("get", "a", "b", "--prefix"),
    ("del", "a", "b", "--from-key"),
    ("get", "a", "--prefix", "--from-key"),
    ("put", "k", "v", "--ignore-value"),
    ("get", "a", "--bogus"),
    ("get", "a", "-x"),
    ("nosuchcommand",),
    ("get", "a", "--limit", "many"),
    ("get", "a", "--prefix=tRuE"),
    ("txn", "-i=x"),
    ("get", "a", "--rev=1x"),
    ("get", "a", "--sort-by", "SIZE"),
    ("get", "a", "--order", "UP"),
    ("get", "a", "--consistency", "x"),
    ("-w", "yaml", "get", "a"),
    ("--command-timeout", "bogus", "get", "k"),
    ("get", "k", "--dial-timeout=5"),
    ("watch",),
    ("watch", "a", "b", "--prefix"),
    ("watch", "a", "--rev", "x"),
    ("compaction",),
    ("compaction", "x"),
    ("compaction", "1", "2"),
    ("lease", "grant"),
    ("lease", "grant", "ten"),
    ("lease", "revoke"),
    ("lease", "revoke", "xyz"),
    ("lease", "revoke", "0x1f"),
    ("lease", "timetolive"),
    ("lease", "keep-alive", "zz"),
    ("put", "k", "v", "--lease", "zz"),
    ("endpoint", "hashkv", "--rev", "x"),
    ("defrag", "--bogus"),
    ("snapshot", "save"),
    ("lock",),
    ("elect",),
    ("member", "remove", "zz"),
]


@pytest.mark.parametrize("arguments", REFUSED, ids=" ".join)
def test_bad_arguments_are_refused_as_etcdctl_refuses_them(arguments: tuple[str, ...]) -> None:
    if shutil.which("etcdctl") is None:
        pytest.skip("etcdctl is required")
    dead = _dead()
    ours = keyraftctl(dead, *arguments)
    theirs = etcdctl(dead, *arguments, timeout=10)
    first_line = lambda result: result.error.partition("\n")[0]  # noqa: E731 - usage follows
    assert ours.code == theirs.code, (ours.error, theirs.error)
    assert first_line(ours) == first_line(theirs).replace('"etcdctl"', '"keyraftctl"')
    assert ours.error.startswith("Error: ") and "Traceback" not in ours.error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"bad\n\n\n", "malformed comparison: bad"),
        (b'nope("k") = "1"\n\n\n', "unknown target nope"),
        (b'ver("k") = "abc"\n\n\n', 'invalid txn compare request: ver("k") = "abc"'),
        (b'val("k") >> "1"\n\n\n', "malformed comparison"),
        (b"\nfrob k v\n\n", "invalid txn request: frob k v"),
        (b"\nput k\n\n", "invalid txn request: put k"),
        (b"\nget k --bogus\n\n", "invalid txn request: get k --bogus"),
    ],
)
def test_bad_txn_text(text: bytes, message: str) -> None:
    result = keyraftctl(_dead(), "txn", stdin=text)
    assert result.code == 3
    assert result.error == f"Error: {message}\n" or message in result.error


def test_server_errors_are_etcds_messages(server: Member) -> None:
    result = keyraftctl(server.client_url, "get", "k", "--rev", "1000000")
    assert result.code == 1
    assert result.error == "Error: etcdserver: mvcc: required revision is a future revision\n"
    result = keyraftctl(server.client_url, "put", "err/absent", "--ignore-value")
    assert result.error == "Error: etcdserver: key not found\n"


def test_environment_sets_global_flags(server: Member) -> None:
    assert keyraftctl(server.client_url, "put", "err/env", "v").code == 0
    for variable in ("KEYRAFTCTL_ENDPOINTS", "ETCDCTL_ENDPOINTS"):
        result = keyraftctl(
            _dead(),
            "get",
            "err/env",
            env={variable: server.client_url, "ETCDCTL_WRITE_OUT": "fields"},
        )
        # an explicit --endpoints beats the environment
        assert result.code == 1
    result = run(
        [*ctl_command(), "get", "err/env"],
        None,
        {"KEYRAFTCTL_ENDPOINTS": server.client_url, "ETCDCTL_WRITE_OUT": "fields"},
        30,
    )
    assert result.code == 0 and '"Key" : "err/env"' in result.text


def test_global_flags_after_the_command(server: Member) -> None:
    assert keyraftctl(server.client_url, "put", "err/late", "v").code == 0
    result = run(
        [*ctl_command(), "get", "err/late", "-w", "json", "--endpoints", server.client_url],
        None,
        None,
        30,
    )
    assert result.code == 0 and result.text.startswith('{"header":')


def test_command_timeout_is_reported(server: Member) -> None:
    result = keyraftctl(server.client_url, "--command-timeout", "bogus", "get", "k")
    assert result.code == 1
    assert 'time: invalid duration "bogus"' in result.error  # Go's words, as etcdctl's


def test_etcdctls_other_global_flags(etcd: Member) -> None:
    """--debug lists the settings as etcdctl does; --keepalive-* are accepted; what
    keyraftctl cannot do (DNS SRV discovery, protobuf output) is refused up front."""
    url = etcd.client_url
    settings = lambda text: [line for line in text.splitlines() if line.startswith("ETCDCTL_")]  # noqa: E731
    ours = keyraftctl(url, "--debug", "get", "k")
    theirs = etcdctl(url, "--debug", "get", "k")
    assert ours.code == theirs.code == 0
    assert settings(ours.error) == settings(theirs.error + theirs.text)
    accepted = keyraftctl(url, "--keepalive-time", "3s", "--keepalive-timeout", "2s", "get", "k")
    assert accepted.code == 0
    protobuf = keyraftctl(url, "-w", "protobuf", "get", "k")
    assert protobuf.code == 4 and "protobuf not supported as output format" in protobuf.error
    discovery = keyraftctl(url, "--discovery-srv", "example.com", "get", "k")
    assert discovery.code == 1 and "DNS SRV discovery is not supported" in discovery.error


def test_boolean_global_flags_never_take_the_next_word(etcd: Member) -> None:
    """As pflag's booleans: `--insecure-transport get k` is the flag, then the command
    (it took `get` as the flag's value); `=false` and `=true` still say which."""
    address = etcd.client_url.removeprefix("http://")
    for flags in (
        ("--insecure-transport",),
        ("--insecure-transport=true",),
        ("--insecure-discovery",),
    ):
        ours = keyraftctl(address, *flags, "get", "k", "-w", "json")
        theirs = etcdctl(address, *flags, "get", "k", "-w", "json")
        assert (ours.code, ours.error) == (theirs.code, theirs.error) == (0, ""), flags
    # without transport security off, a scheme-less endpoint is dialed with TLS
    refused = keyraftctl(address, "--insecure-transport=false", "get", "k")
    assert refused.code != 0 and f"https://{address}" in refused.error
