"""The same commands, in the same order, on three fresh servers with identical histories:
keyraftctl on etcd A, real etcdctl on etcd B, keyraftctl on keyraft. Revisions then agree
everywhere, so outputs must match exactly once member and cluster ids are hidden."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ctl.support import Result, etcdctl, invoke, normalized
from tests.support.servers import Member, etcd_member, keyraft_member

TXN_MIXED = b'value("l/a") = "1"\nmod("l/b") > "0"\n\nput l/t1 v1 --prev-kv\nget l/ --prefix --keys-only\ndel l/none --prev-kv\n\nput l/t2 v2\n\n'
TXN_FAILS = b'ver("l/a") = "99"\n\nput l/t3 x\n\nget l/a\nget "l/b" "l/c"\n\n'
TXN_EMPTY = b"\n\n\n"
TXN_QUOTES = b'c("l/a") != "0"\nval("l/a") < "9"\n\nput "l/sp ace" "multi\\nline"\nput l/q \'single quoted\'\n\n\n'

# (arguments, stdin, also compare with etcdctl 3.4)
STEPS: list[tuple[tuple[str, ...], bytes | None, bool]] = [
    (("put", "l/a", "1"), None, True),
    (("put", "l/b", "2", "--prev-kv"), None, True),
    (("put", "l/b", "3", "--prev-kv"), None, True),
    (("-w", "json", "put", "l/b", "4", "--prev-kv"), None, True),
    (("-w", "fields", "put", "l/c", "5", "--prev-kv"), None, True),
    (("put", "l/d"), b"from stdin\n", True),
    (("put", "l/bin", "--", '\udcff\x01é\t"'), None, True),
    (("get", "l/a"), None, True),
    (("get", "l/missing"), None, True),
    (("-w", "json", "get", "l/missing"), None, True),
    (("get", "l/", "--prefix"), None, True),
    (("-w", "json", "get", "l/", "--prefix"), None, True),
    (("-w", "fields", "get", "l/", "--prefix"), None, True),
    (("--hex", "get", "l/", "--prefix"), None, True),
    (("get", "l/", "--prefix", "--print-value-only"), None, True),
    (("get", "l/", "--prefix", "--keys-only"), None, True),
    (("-w", "json", "get", "l/", "--prefix", "--keys-only", "--limit", "2"), None, True),
    (("get", "l/a", "l/c"), None, True),
    (("get", "l/b", "--from-key", "--limit", "2"), None, True),
    (("get", "l/", "--prefix", "--sort-by", "MODIFY", "--order", "DESCEND"), None, True),
    (("get", "l/", "--prefix", "--sort-by", "value", "--order", "ascend"), None, True),
    (("-w", "json", "get", "l/b", "--rev", "3"), None, True),
    (("get", "l/b", "--consistency", "s"), None, True),
    (("txn",), TXN_MIXED, True),
    (("-w", "json", "txn"), TXN_FAILS, True),
    (("-w", "fields", "txn"), TXN_FAILS, True),
    (("txn",), TXN_EMPTY, True),
    (("-w", "json", "txn"), TXN_QUOTES, True),
    (("get", "l/sp ace"), None, True),
    (("del", "l/none"), None, True),
    (("del", "l/t1", "--prev-kv"), None, True),
    (("-w", "json", "del", "l/t", "--prefix", "--prev-kv"), None, True),
    (("-w", "fields", "del", "l/c", "l/d", "--prev-kv"), None, True),
    (("put", "l/a", "--ignore-value"), None, True),
    (("put", "l/nothing", "--ignore-value"), None, True),
    (("compaction", "3"), None, True),
    (("-w", "json", "compaction", "4", "--physical"), None, True),
    (("get", "l/b", "--rev", "2"), None, True),
    (("get", "l/b", "--rev", "1000"), None, True),
    (("compaction", "2"), None, True),
    (("get", "l/", "--prefix", "--count-only"), None, False),
    (("-w", "json", "get", "l/", "--prefix", "--count-only"), None, False),
    (("-w", "table", "get", "l/", "--prefix"), None, True),
    (("-w", "table", "txn"), TXN_FAILS, True),
    (("del", "", "--from-key"), None, True),
]


@pytest.fixture(scope="module")
def trio(
    tmp_path_factory: pytest.TempPathFactory, etcd: Member
) -> Iterator[tuple[Member, Member, Member]]:
    root = tmp_path_factory.mktemp("ctl-lockstep")
    members = [etcd_member(root, "a"), etcd_member(root, "b"), keyraft_member(root, "k")]
    try:
        for member in members:
            member.start()
        yield members[0], members[1], members[2]
    finally:
        for member in members:
            member.stop()


def _view(result: Result) -> tuple[int, str, str]:
    return result.code, normalized(result.text), normalized(result.error)


def test_same_commands_same_output(trio: tuple[Member, Member, Member]) -> None:
    etcd_a, etcd_b, keyraft = trio
    mismatches = []
    for arguments, stdin, with_etcdctl in STEPS:
        ours_on_etcd = _view(invoke(etcd_a.client_url, *arguments, stdin=stdin))
        ours_on_keyraft = _view(invoke(keyraft.client_url, *arguments, stdin=stdin))
        theirs = _view(etcdctl(etcd_b.client_url, *arguments, stdin=stdin))
        assert "Traceback" not in ours_on_etcd[2] + ours_on_keyraft[2]
        if with_etcdctl and ours_on_etcd != theirs:
            mismatches.append(("keyraftctl vs etcdctl", arguments, ours_on_etcd, theirs))
        if ours_on_keyraft != ours_on_etcd:
            mismatches.append(("keyraft vs etcd", arguments, ours_on_keyraft, ours_on_etcd))
    assert not mismatches, "\n\n".join(map(repr, mismatches))
