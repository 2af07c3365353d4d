"""The `keyraft` command line: etcd's flags, clear errors, KEYRAFT_* variables."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from tests.support.servers import ROOT, Member, free_port, keyraft_command, keyraft_member


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*keyraft_command(), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_etcd_flags() -> None:
    result = run("--help")
    assert result.returncode == 0
    for flag in (
        "--name",
        "--data-dir",
        "--listen-client-urls",
        "--initial-cluster",
        "--max-txn-ops",
        "--quota-backend-bytes",
        "--auto-compaction-mode",
        "--auto-compaction-retention",
    ):
        assert flag in result.stdout


def test_unknown_flag_and_bad_values_are_usage_errors() -> None:
    cases = [
        (("--no-such-flag",), "No such option"),
        (("--max-txn-ops", "many"), "many"),
        (("--initial-cluster-state", "maybe"), "maybe"),
        (("--listen-client-urls", "ftp://x:1"), "scheme"),
        (("--listen-client-urls", "http://127.0.0.1"), "port"),
        (("--initial-cluster", "n1"), "name=url"),
        (("--name", "n1", "--initial-cluster", "n2=http://127.0.0.1:2380"), "no member named 'n1'"),
        (("--auto-compaction-mode", "bogus"), 'unknown auto-compaction-mode "bogus"'),
        (("--auto-compaction-retention", "xyz"), 'time: invalid duration "xyz"'),
    ]
    for args, text in cases:
        result = run(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_etcd_style_single_member_command_line_and_env(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path, name="n1")
    peer = [arg for arg in member.command if arg.startswith("http://")][-1]
    member.command += ["--initial-cluster", f"n1={peer}", "--initial-cluster-token", "tok"]
    member.command += ["--initial-cluster-state", "new"]
    member.start()
    member.stop()
    port = free_port()
    env = {
        "KEYRAFT_LISTEN_CLIENT_URLS": f"http://127.0.0.1:{port}",
        "KEYRAFT_DATA_DIR": str(tmp_path / "env"),
    }
    process = subprocess.Popen(
        [*keyraft_command(), "--listen-peer-urls", "http://127.0.0.1:1"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = Member(
            "env",
            "keyraft",
            [],
            tmp_path / "env",
            f"http://127.0.0.1:{port}",
            tmp_path / "env.log",
            process,
        )
        probe.wait_ready(30)
        assert httpx.get(f"http://127.0.0.1:{port}/health").json() == {"health": "true"}
        assert (tmp_path / "env").is_dir()
    finally:
        process.terminate()
        process.wait(10)
