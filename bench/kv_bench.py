"""Single-member throughput, keyraft vs real etcd, same machine, same run, same wrk load.

    python -m bench.kv_bench [--duration 10] [--connections 64]

Put: unique keys, 256-byte values. Range: one key, linearizable. Prints requests/s of
each and the ratio keyraft/etcd. With --auth, each server runs with auth enabled and the
requests carry the token of a user with READWRITE on the keys' prefix (what auth costs:
compare with a run without).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx

from bench.wrk_output import WrkResult, parse_wrk
from tests.support.servers import Member, etcd_member, keyraft_member

WRK_DIR = Path(__file__).resolve().parent / "wrk"


def wrk(
    url: str, script: str, duration: int, connections: int, env: dict | None = None
) -> WrkResult:
    """One wrk run of `script` against `url`: requests/s with p50/p99 latency beside it.
    Raises when wrk fails or any answer was not 200 (the scripts report those)."""
    result = subprocess.run(
        [
            shutil.which("wrk") or "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(WRK_DIR / script),
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        env={**os.environ, **(env or {})},
    )
    try:
        measured = parse_wrk(result.stdout)
    except ValueError:
        raise RuntimeError(f"wrk failed: {result.stdout}\n{result.stderr}") from None
    errors = result.stderr.count("unexpected status")
    if errors:
        raise RuntimeError(f"{errors} non-200 answers: {result.stderr[:500]}")
    return measured


AUTH_SETUP = (
    ("/v3/auth/user/add", {"name": "root", "password": "pw"}),
    ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
    ("/v3/auth/role/add", {"name": "rw"}),
    (
        "/v3/auth/role/grant",
        {"name": "rw", "perm": {"permType": "READWRITE", "key": "YmVu", "range_end": "YmVv"}},
    ),  # the prefix "ben"
    ("/v3/auth/user/add", {"name": "bench", "password": "pw"}),
    ("/v3/auth/user/grant", {"user": "bench", "role": "rw"}),
    ("/v3/auth/enable", {}),
)


def enable_auth(url: str) -> str:
    """Auth on, with a user who may read and write the benchmark's keys: its token."""
    for path, body in AUTH_SETUP:
        httpx.post(url + path, json=body, timeout=10).raise_for_status()
    answer = httpx.post(
        url + "/v3/auth/authenticate", json={"name": "bench", "password": "pw"}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()["token"]


def measure(
    member: Member, duration: int, connections: int, auth: bool = False
) -> dict[str, float]:
    member.start()
    try:
        httpx.post(member.client_url + "/v3/kv/put", json={"key": "YmVuY2gva2V5", "value": "dg=="})
        env = {"BENCH_TOKEN": enable_auth(member.client_url)} if auth else {}
        serializable = {**env, "BENCH_SERIALIZABLE": "1"}
        return {
            "put": wrk(member.client_url, "put.lua", duration, connections, env),
            "range": wrk(member.client_url, "range.lua", duration, connections, env),
            "range (serializable)": wrk(
                member.client_url, "range.lua", duration, connections, serializable
            ),
        }
    finally:
        member.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--auth", action="store_true", help="auth enabled, requests with a token")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kv-bench-") as directory:
        workdir = Path(directory)
        etcd = measure(etcd_member(workdir), args.duration, args.connections, args.auth)
        keyraft = measure(keyraft_member(workdir), args.duration, args.connections, args.auth)
    print(f"{'workload':<24}{'etcd req/s':>12}{'keyraft req/s':>15}{'ratio':>8}")
    for name in etcd:
        print(
            f"{name:<24}{etcd[name]:>12.0f}{keyraft[name]:>15.0f}{keyraft[name] / etcd[name]:>8.2f}"
        )


if __name__ == "__main__":
    main()
