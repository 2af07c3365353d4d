"""Failures a person reads: no traceback, etcdctl's messages and exit codes (usage: 2)."""

from __future__ import annotations

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


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("get",), "get command needs one argument as key"),
        (("get", "a", "b", "c"), "get command needs one argument as key"),
        (("del",), "del command needs one argument as key"),
        (("get", "a", "b", "--prefix"), "only accept one argument when `--prefix` is set"),
        (("get", "a", "--prefix", "--from-key"), "cannot be set at the same time"),
        (("put",), "put command needs 1 argument"),
        (("put", "k", "v", "--ignore-value"), "value should not be specified"),
        (("get", "a", "--sort-by", "SIZE"), "Invalid value for '--sort-by'"),
        (("-w", "yaml", "get", "a"), "Invalid value for '-w'"),
        (("get", "a", "--limit", "many"), "Invalid value for '--limit'"),
        (("compaction", "x"), "Invalid value for 'REVISION'"),
        (("lease", "revoke", "xyz"), "bad lease ID (xyz), expecting ID in Hex"),
        (("lease", "grant", "ten"), "bad TTL"),
        (("nosuchcommand",), "No such command"),
        (("watch",), "requires one or two arguments"),
    ],
)
def test_bad_arguments_print_usage(arguments: tuple[str, ...], message: str) -> None:
    result = keyraftctl(_dead(), *arguments)
    assert result.code == 2, result.error
    assert "Usage: keyraftctl" in result.error
    assert message in result.error
    assert "Traceback" not in result.error


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
    assert result.code == 2
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
