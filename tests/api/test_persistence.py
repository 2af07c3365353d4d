"""Restarts keep everything: keys, history, the current revision, the compaction point;
and every acknowledged write survives kill -9."""

from __future__ import annotations

import base64
import concurrent.futures
from pathlib import Path

import httpx

from tests.support.compare import b64, normalize
from tests.support.servers import keyraft_member


def _post(client: httpx.Client, url: str, path: str, body: dict) -> dict:
    """The answer, without what a restart legitimately changes (the Raft term)."""
    response = client.post(url + path, json=body)
    return normalize({"status": response.status_code, **response.json()})


def test_restart_keeps_keys_history_revision_and_compaction(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path)
    member.start()
    try:
        with httpx.Client(timeout=10) as client:
            url = member.client_url
            for value in ("1", "2", "3"):
                _post(client, url, "/v3/kv/put", {"key": b64("k"), "value": b64(value)})
            _post(client, url, "/v3/kv/put", {"key": b64("other"), "value": b64("x")})
            _post(client, url, "/v3/kv/deleterange", {"key": b64("other")})
            assert _post(client, url, "/v3/kv/compaction", {"revision": 3})["status"] == 200
            before_history = _post(client, url, "/v3/kv/range", {"key": b64("k"), "revision": 3})
            before_all = _post(client, url, "/v3/kv/range", {"key": "AA==", "range_end": "AA=="})
            member.stop()
            member.start()
            assert (
                _post(client, url, "/v3/kv/range", {"key": "AA==", "range_end": "AA=="})
                == before_all
            )
            assert (
                _post(client, url, "/v3/kv/range", {"key": b64("k"), "revision": 3})
                == before_history
            )
            compacted = _post(client, url, "/v3/kv/range", {"key": b64("k"), "revision": 2})
            assert compacted["message"] == "etcdserver: mvcc: required revision has been compacted"
            assert before_all["header"]["revision"] == "6"
            put = _post(client, url, "/v3/kv/put", {"key": b64("k"), "value": b64("4")})
            assert put["header"]["revision"] == "7"
    finally:
        member.stop()


def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path)
    member.start()
    acknowledged: list[str] = []
    try:
        with httpx.Client(timeout=10, limits=httpx.Limits(max_connections=16)) as client:

            def write(index: int) -> str | None:
                try:
                    response = client.post(
                        member.client_url + "/v3/kv/put",
                        json={"key": b64(f"crash/{index:05d}"), "value": b64(str(index))},
                    )
                except httpx.HTTPError:
                    return None
                return f"crash/{index:05d}" if response.status_code == 200 else None

            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                futures = [pool.submit(write, index) for index in range(600)]
                for count, future in enumerate(concurrent.futures.as_completed(futures)):
                    if count == 300:
                        member.kill()
                    result = future.result()
                    if result is not None:
                        acknowledged.append(result)
            assert len(acknowledged) >= 300
            member.start()
            response = client.post(
                member.client_url + "/v3/kv/range",
                json={"key": b64("crash/"), "range_end": b64("crash0"), "keys_only": True},
            ).json()
            present = {base64.b64decode(kv["key"]).decode() for kv in response.get("kvs", [])}
            missing = set(acknowledged) - present
            assert not missing, f"{len(missing)} acknowledged writes lost"
            assert int(response["header"]["revision"]) == 1 + len(present)
    finally:
        member.stop()


def test_data_dir_of_another_member_is_refused(tmp_path: Path) -> None:
    first = keyraft_member(tmp_path, name="one")
    first.start()
    first.stop()
    other = keyraft_member(tmp_path, name="two")
    other.data_dir = first.data_dir
    index = other.command.index("--data-dir")
    other.command[index + 1] = str(first.data_dir)
    try:
        other.start(timeout=15)
        raise AssertionError("a member started on another member's data dir")
    except RuntimeError as error:
        assert "belongs to member" in str(error)
    finally:
        other.stop()


def test_restart_keeps_leases_and_their_keys(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path)
    member.start()
    try:
        with httpx.Client(timeout=10) as client:
            url = member.client_url
            for lease in (11, 12):
                _post(client, url, "/v3/lease/grant", {"ID": lease, "TTL": 600})
            _post(client, url, "/v3/kv/put", {"key": b64("a"), "value": b64("1"), "lease": 11})
            _post(client, url, "/v3/kv/put", {"key": b64("b"), "value": b64("1"), "lease": 11})
            _post(client, url, "/v3/kv/put", {"key": b64("b"), "value": b64("2")})  # detached
            _post(client, url, "/v3/lease/revoke", {"ID": 12})
            member.stop()
            member.start()
            assert _post(client, url, "/v3/lease/leases", {})["leases"] == [{"ID": "11"}]
            ttl = _post(client, url, "/v3/lease/timetolive", {"ID": 11, "keys": True})
            assert (ttl["grantedTTL"], ttl["keys"]) == ("600", [b64("a")])
            assert _post(client, url, "/v3/lease/revoke", {"ID": 11})["status"] == 200
            keys = _post(client, url, "/v3/kv/range", {"key": "AA==", "range_end": "AA=="})
            assert [kv["key"] for kv in keys["kvs"]] == [b64("b")]
    finally:
        member.stop()
