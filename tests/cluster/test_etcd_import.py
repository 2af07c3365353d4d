"""An etcd 3.4 snapshot (bbolt, saved by etcdctl) restored into keyraft: every key with
its history, the revision, the compaction point and leases answer as on the etcd it came
from."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.ctl.support import etcdctl, invoke
from tests.support.compare import b64, normalize
from tests.support.servers import Member, etcd_available, etcd_member, keyraft_member

pytestmark = pytest.mark.timeout(120)
EVERYTHING = {"key": "AA==", "range_end": "AA=="}


def post(member: Member, path: str, body: dict) -> httpx.Response:
    return httpx.post(member.client_url + path, json=body, timeout=10)


def test_an_etcd_snapshot_restores_into_keyraft(tmp_path: Path) -> None:
    if not etcd_available():
        pytest.fail("real etcd is required")
    etcd = etcd_member(tmp_path)
    wal_dir = tmp_path / "keyraft-wal"  # the log kept apart, as etcdctl's --wal-dir does
    keyraft = keyraft_member(tmp_path, extra=("--wal-dir", str(wal_dir)))
    try:
        etcd.start()
        post(etcd, "/v3/lease/grant", {"ID": 77, "TTL": 600})
        for n in range(12):
            post(etcd, "/v3/kv/put", {"key": b64(f"k{n % 4}"), "value": b64(f"v{n}")})
        post(etcd, "/v3/kv/put", {"key": b64("leased"), "value": b64("x"), "lease": 77})
        post(etcd, "/v3/kv/deleterange", {"key": b64("k3")})
        post(etcd, "/v3/kv/compaction", {"revision": 5})
        snapshot = tmp_path / "etcd.db"
        assert etcdctl(etcd.client_url, "snapshot", "save", str(snapshot)).code == 0
        restored = invoke(
            "http://127.0.0.1:1",
            "snapshot",
            "restore",
            str(snapshot),
            "--name", keyraft.name,
            "--data-dir", str(keyraft.data_dir),
            "--wal-dir", str(wal_dir),
            "--initial-cluster", f"{keyraft.name}={keyraft.peer_url}",
            "--initial-advertise-peer-urls", keyraft.peer_url,
            "--initial-cluster-token", "test-cluster",
        )  # fmt: skip
        assert restored.code == 0, restored
        truncated = tmp_path / "truncated.db"
        truncated.write_bytes(snapshot.read_bytes()[:-100])
        target = tmp_path / "refused"
        refused = invoke(
            "http://127.0.0.1:1", "snapshot", "restore", str(truncated), "--data-dir", str(target)
        )
        assert refused.code == 1 and "Error:" in refused.error and not target.exists(), refused
        for restore in (etcdctl, invoke):  # a WAL dir already there: refused, in etcd's words
            again = ("snapshot", "restore", str(snapshot), "--wal-dir", str(wal_dir))
            taken = restore("http://127.0.0.1:1", *again, "--data-dir", str(target))
            assert (taken.code, taken.error.splitlines()[-1:]) == (
                1,
                [f'Error: wal-dir "{wal_dir}" exists'],
            ), taken
            assert not target.exists()
        keyraft.start()
        requests = [
            ("/v3/kv/range", EVERYTHING),
            ("/v3/kv/range", {**EVERYTHING, "revision": 8}),
            ("/v3/kv/range", {**EVERYTHING, "revision": 4}),  # compacted
            ("/v3/lease/timetolive", {"ID": 77, "keys": True}),
        ]
        for path, body in requests:
            expected, actual = post(etcd, path, body), post(keyraft, path, body)
            assert expected.status_code == actual.status_code, (path, body, actual.text)
            wanted, got = normalize(expected.json()), normalize(actual.json())
            if path.endswith("timetolive"):
                wanted.pop("TTL"), got.pop("TTL")  # type: ignore[union-attr]
            assert got == wanted, (path, body)
        assert any(wal_dir.iterdir()) and not (keyraft.data_dir / "member" / "wal").exists()
        answer = post(keyraft, "/v3/kv/put", {"key": b64("after"), "value": b64("1")}).json()
        etcd_revision = post(etcd, "/v3/kv/range", {"key": "AA=="}).json()["header"]["revision"]
        assert int(answer["header"]["revision"]) == int(etcd_revision) + 1
    finally:
        keyraft.stop()
        etcd.stop()
