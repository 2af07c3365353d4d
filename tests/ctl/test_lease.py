"""Lease commands against real etcd, compared with etcdctl, and against keyraft, compared
with the same commands against etcd."""

from __future__ import annotations

import re

from tests.ctl.support import etcdctl, keyraftctl, normalized
from tests.support.servers import Member


def _remaining(text: str) -> str:
    """TTLs tick down between two runs; hide the remaining seconds only."""
    return re.sub(r'remaining\(\d+s\)|"ttl":\d+|"TTL" : \d+', "TTL", text)


def test_lease_commands_match_etcdctl(etcd: Member) -> None:
    url = etcd.client_url
    granted = keyraftctl(url, "lease", "grant", "300")
    assert re.fullmatch(r"lease [0-9a-f]{16} granted with TTL\(300s\)\n", granted.text)
    lease = granted.text.split()[1]
    assert keyraftctl(url, "put", "lease/k", "v", "--lease", lease).code == 0
    for arguments in (
        ("lease", "timetolive", lease),
        ("lease", "timetolive", lease, "--keys"),
        ("-w", "json", "lease", "timetolive", lease, "--keys"),
        ("-w", "fields", "lease", "timetolive", lease, "--keys"),
        ("lease", "keep-alive", "--once", lease),
        ("-w", "json", "lease", "keep-alive", "--once", lease),
        ("lease", "list"),
        ("-w", "json", "lease", "list"),
        ("-w", "fields", "lease", "list"),
        ("lease", "timetolive", "1234"),
        ("-w", "json", "lease", "timetolive", "1234"),
        ("lease", "revoke", "1234"),
        ("get", "lease/k", "-w", "json"),
    ):
        # The etcd is shared: another test's short lease may expire between the two
        # calls of a `lease list`, so a differing pair is asked again (a few times).
        for _attempt in range(3):
            ours, theirs = keyraftctl(url, *arguments), etcdctl(url, *arguments)
            if "list" not in arguments or ours.text == theirs.text:
                break
        assert (ours.code, _remaining(ours.text), ours.error) == (
            theirs.code, _remaining(theirs.text), theirs.error,
        ), arguments  # fmt: skip
    json_grant = keyraftctl(url, "-w", "json", "lease", "grant", "60").text
    assert re.fullmatch(
        r'\{"cluster_id":\d+,"member_id":\d+,"revision":\d+,"raft_term":\d+,"ID":\d+,"TTL":60,"Error":""\}\n',
        json_grant,
    )
    assert keyraftctl(url, "lease", "revoke", lease).text == f"lease {lease} revoked\n"
    assert keyraftctl(url, "get", "lease/k").text == ""
    expired = keyraftctl(url, "lease", "keep-alive", "--once", lease)
    assert (expired.code, expired.error) == (2, "Error: etcdserver: requested lease not found\n")


def test_keep_alive_renews_until_the_lease_is_gone(etcd: Member) -> None:
    lease = keyraftctl(etcd.client_url, "lease", "grant", "3").text.split()[1]
    revoker = etcdctl(etcd.client_url, "lease", "revoke", lease)
    assert revoker.code == 0
    result = keyraftctl(etcd.client_url, "lease", "keep-alive", lease, timeout=20)
    assert (result.code, result.text) == (0, f"lease {lease} expired or revoked.\n")


def _same_shape(text: str, lease: str) -> str:
    """Hide what differs between two servers with different histories: identities,
    revisions, the lease ID and the remaining seconds."""
    text = _remaining(normalized(text))
    text = text.replace(lease, "LEASE").replace(str(int(lease, 16)), "LEASE")
    return re.sub(r'(revision"?\s?:\s?)\d+', r"\1N", text)


def test_lease_commands_on_keyraft(keyraft: Member, etcd: Member) -> None:
    """keyraftctl against keyraft answers as keyraftctl against etcd, ID and revisions aside."""
    leases = {}
    for member in (keyraft, etcd):
        granted = keyraftctl(member.client_url, "lease", "grant", "300")
        assert re.fullmatch(r"lease [0-9a-f]{16} granted with TTL\(300s\)\n", granted.text)
        leases[member.name] = granted.text.split()[1]
        put = ("put", "klease/k", "v", "--lease", leases[member.name])
        assert keyraftctl(member.client_url, *put).code == 0
    for arguments in (
        ("lease", "timetolive", "LEASE"),
        ("lease", "timetolive", "LEASE", "--keys"),
        ("-w", "json", "lease", "timetolive", "LEASE", "--keys"),
        ("lease", "keep-alive", "--once", "LEASE"),
        ("-w", "json", "lease", "keep-alive", "--once", "LEASE"),
        ("lease", "timetolive", "1234"),
        ("lease", "revoke", "1234"),
        ("get", "klease/k", "-w", "json"),
        ("lease", "revoke", "LEASE"),
        ("get", "klease/k"),
        ("lease", "keep-alive", "--once", "LEASE"),
    ):
        answers = []
        for member in (keyraft, etcd):
            lease = leases[member.name]
            concrete = [lease if item == "LEASE" else item for item in arguments]
            result = keyraftctl(member.client_url, *concrete)
            answers.append((result.code, _same_shape(result.text, lease), result.error))
        assert answers[0] == answers[1], arguments
