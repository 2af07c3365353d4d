"""keyraftctl's maintenance commands in lockstep with etcdctl 3.4: the same script run by
etcdctl on etcd, by keyraftctl on etcd and by keyraftctl on keyraft prints the same."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import orjson

from tests.ctl.support import Result, etcdctl, invoke, normalized
from tests.support.servers import Member

Runner = Callable[..., Result]


def _raise(member: Member, member_id: str, kind: str) -> None:
    body = {"action": "ACTIVATE", "memberID": member_id, "alarm": kind}
    httpx.post(member.client_url + "/v3/maintenance/alarm", json=body).raise_for_status()


def alarm_script(member: Member, run: Runner) -> list[tuple[int, str, str]]:
    """One alarm at a time (etcd lists several in Go map order)."""
    outputs = []

    def step(*arguments: str) -> None:
        result = run(member.client_url, *arguments)
        outputs.append((result.code, normalized(result.text), normalized(result.error)))

    step("alarm", "list")
    step("-w", "json", "alarm", "list")
    _raise(member, "5", "NOSPACE")
    step("alarm", "list")
    step("-w", "json", "alarm", "list")
    step("alarm", "disarm")
    step("alarm", "disarm")
    _raise(member, "0", "CORRUPT")
    step("alarm", "list")
    step("-w", "json", "alarm", "disarm")
    step("alarm", "list", "extra")
    step("-w", "table", "alarm", "list")
    return outputs


def test_alarm_list_and_disarm(etcd: Member, keyraft: Member) -> None:
    theirs = alarm_script(etcd, etcdctl)
    ours_on_etcd = alarm_script(etcd, invoke)
    ours_on_keyraft = alarm_script(keyraft, invoke)
    assert ours_on_etcd == theirs
    assert ours_on_keyraft == ours_on_etcd


def test_snapshot_save_and_status(etcd: Member, keyraft: Member, tmp_path) -> None:
    # keyraftctl saves etcd's stream as etcdctl does: etcdctl reads the file back...
    from_etcd = tmp_path / "etcd.db"
    assert invoke(etcd.client_url, "snapshot", "save", str(from_etcd)).code == 0
    # and keyraftctl reads an etcd snapshot as etcdctl does (CRC-32C, revision, keys, size)
    for fmt in ("simple", "json", "fields"):
        theirs = etcdctl(etcd.client_url, "snapshot", "status", str(from_etcd), "-w", fmt)
        ours = invoke(etcd.client_url, "snapshot", "status", str(from_etcd), "-w", fmt)
        assert theirs.code == 0 and (ours.code, ours.text) == (0, theirs.text), (fmt, ours)
    # keyraft's own file, in each of etcdctl's formats (shapes as etcdctl 3.4.23 prints)
    ours = tmp_path / "keyraft.db"
    saved = invoke(keyraft.client_url, "snapshot", "save", str(ours))
    assert saved.text == f"Snapshot saved at {ours}\n"
    found = orjson.loads(
        invoke(keyraft.client_url, "-w", "json", "snapshot", "status", str(ours)).out
    )
    assert set(found) == {"hash", "revision", "totalKey", "totalSize"}
    assert found["totalSize"] == ours.stat().st_size - 32
    simple = invoke(keyraft.client_url, "snapshot", "status", str(ours)).text
    assert re.fullmatch(r"[0-9a-f]+, \d+, \d+, \d+(\.\d)? [kM]?B\n", simple), simple
    fields = invoke(keyraft.client_url, "-w", "fields", "snapshot", "status", str(ours)).text
    assert fields == (
        f'"Hash" : {found["hash"]}\n"Revision" : {found["revision"]}\n'
        f'"Keys" : {found["totalKey"]}\n"Size" : {found["totalSize"]}\n'
    )
    assert invoke(keyraft.client_url, "snapshot", "save").code == 128  # no file named


def test_defrag_and_endpoint_hashkv(etcd: Member, keyraft: Member) -> None:
    for member, run in ((etcd, etcdctl), (etcd, invoke), (keyraft, invoke)):
        done = run(member.client_url, "defrag")
        assert (done.code, done.text) == (
            0,
            f"Finished defragmenting etcd member[{member.client_url}]\n",
        )
        failed = run(f"{member.client_url},http://127.0.0.1:1", "--command-timeout", "1s", "defrag")
        assert failed.code == 1 and failed.error.startswith(
            "Failed to defragment etcd member[http://127.0.0.1:1] ("
        )
        assert "Error:" not in failed.error
    # etcd 3.4's gateway has no HashKV; keyraft serves it at etcd 3.5's path
    simple = invoke(keyraft.client_url, "endpoint", "hashkv").text
    assert re.fullmatch(re.escape(keyraft.client_url) + r", \d+\n", simple), simple
    answer = orjson.loads(invoke(keyraft.client_url, "-w", "json", "endpoint", "hashkv").out)
    (only,) = answer
    assert only["Endpoint"] == keyraft.client_url
    assert set(only["HashKV"]) == {"header", "hash", "compact_revision"}
    assert isinstance(only["HashKV"]["hash"], int)
    future = invoke(keyraft.client_url, "endpoint", "hashkv", "--rev", "100000000")
    assert future.code == 1
    assert "required revision is a future revision" in future.error
