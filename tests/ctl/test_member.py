"""`member add|update|promote|remove` and `move-leader`: keyraftctl against keyraft
prints what etcdctl prints against etcd 3.4, member IDs and the answering member's
name and URLs aside."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ctl.support import Result, etcdctl, invoke
from tests.support.servers import Member, etcd_member, free_port, keyraft_member

# An ID, with the padding etcdctl's %16x gives a shorter one (the two clusters' IDs differ
# in length one time in sixteen): the padding is the same format, not the same value.
HEX_ID = re.compile(r"( *)\b([0-9a-f]{12,16})\b")
INITIAL_CLUSTER = re.compile(r'(ETCD_INITIAL_CLUSTER=")([^"]*)"')


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Member, Member]]:
    if shutil.which("etcd") is None or shutil.which("etcdctl") is None:
        pytest.skip("real etcd and etcdctl are required")
    etcd, keyraft = etcd_member(tmp_path), keyraft_member(tmp_path)
    try:
        etcd.start()
        keyraft.start()
        yield etcd, keyraft
    finally:
        etcd.stop()
        keyraft.stop()


def _self(member: Member) -> tuple[str, str, str]:
    own = member.post("/v3/maintenance/status", {}).json()["header"]["member_id"]
    members = member.post("/v3/cluster/member/list", {}).json()["members"]
    listed = next(m for m in members if m["ID"] == own)
    return f"{int(listed['ID']):x}", listed["name"], listed["peerURLs"][0]


def _normal(result: Result, member: Member) -> tuple[int, str, str]:
    own_id, name, url = _self(member)

    def clean(text: str) -> str:
        text = text.replace(url, "SELF-URL").replace(f"{name}=", "SELF=")
        # members come in ID order, and IDs differ between the two clusters
        text = INITIAL_CLUSTER.sub(
            lambda m: m.group(1) + ",".join(sorted(m.group(2).split(","))) + '"', text
        )
        return HEX_ID.sub(
            lambda m: (" " if m.group(1) else "") + ("SELF-ID" if m.group(2) == own_id else "ID"),
            text,
        )

    return result.code, clean(result.text), clean(result.error)


def test_member_commands_print_as_etcdctl(servers: tuple[Member, Member]) -> None:
    etcd, keyraft = servers
    learner, moved = (f"http://127.0.0.1:{free_port()}" for _ in range(2))

    def both(*args: str) -> tuple[int, str, str]:
        expected = _normal(etcdctl(etcd.client_url, *args), etcd)
        actual = _normal(invoke(keyraft.client_url, *args), keyraft)
        assert actual == expected, args
        return expected

    code, out, _ = both("member", "add", "new", f"--peer-urls={learner}", "--learner")
    assert code == 0 and "ETCD_INITIAL_CLUSTER_STATE" in out

    def new_id(member: Member) -> str:
        listed = member.post("/v3/cluster/member/list", {}).json()["members"]
        return next(f"{int(m['ID']):x}" for m in listed if not m.get("name"))

    def on_both(*args: str) -> tuple[int, str, str]:
        expected = _normal(etcdctl(etcd.client_url, *args, new_id(etcd)), etcd)
        actual = _normal(invoke(keyraft.client_url, *args, new_id(keyraft)), keyraft)
        assert actual == expected, args
        return expected

    assert on_both("member", "promote")[0] == 1  # a learner that never started
    assert "updated in cluster" in on_both("member", "update", f"--peer-urls={moved}")[1]
    assert "removed from cluster" in on_both("member", "remove")[1]
    for args in (
        ("member", "add"),
        ("member", "add", "x"),
        ("member", "add", "x", "--peer-urls=bad"),
        ("member", "remove"),
        ("member", "remove", "zz"),
        ("member", "promote", "zz"),
        ("member", "remove", "1234"),
        ("move-leader",),
        ("move-leader", "zz"),
        ("move-leader", "1234"),
    ):
        assert both(*args)[0] != 0, args
    for member in (etcd, keyraft):
        own = _self(member)[0]
        runner = etcdctl if member is etcd else invoke
        moved_to_self = runner(member.client_url, "move-leader", own)
        assert moved_to_self.text == f"Leadership transferred from {own} to {own}\n"
