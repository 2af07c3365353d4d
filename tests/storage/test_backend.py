"""The RocksDB backend's own files stay bounded across restarts."""

from __future__ import annotations

from pathlib import Path

from keyraft.storage.backend import INFO_LOGS_KEPT, Backend


def test_restarts_keep_a_bounded_number_of_info_logs(tmp_path: Path) -> None:
    """RocksDB starts a new info LOG on every open and, by default, keeps 1,000 old ones;
    a member that restarts often (a crash loop, a rolling upgrade) must not pile them up."""
    for restart in range(INFO_LOGS_KEPT + 4):
        backend = Backend(str(tmp_path))
        batch = backend.new_batch()
        batch.put("kv", b"restart", str(restart).encode())
        backend.write(batch)
        backend.sync()
        backend.close()
    info_logs = [path.name for path in tmp_path.glob("LOG*")]
    assert "LOG" in info_logs
    assert len(info_logs) <= INFO_LOGS_KEPT + 1, sorted(info_logs)
    backend = Backend(str(tmp_path))
    try:
        assert backend.get("kv", b"restart") == str(INFO_LOGS_KEPT + 3).encode()
    finally:
        backend.close()
