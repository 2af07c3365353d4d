"""What the benches share: running clusters, reading their processes' CPU and memory,
printing keyraft/etcd ratios."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.servers import Member, etcd_cluster, keyraft_cluster

Measure = Callable[[list[Member]], dict[str, float]]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(members: list[Member]) -> float:
    """CPU time the members' processes used so far (user + system)."""
    total = 0
    for member in members:
        fields = Path(f"/proc/{member.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def resident_mib(member: Member, field: str = "VmRSS") -> float:
    """A member's resident memory now (VmRSS) or at its peak (VmHWM), in MiB."""
    for line in Path(f"/proc/{member.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {member.pid}")


def put_many(
    url: str, puts: int, threads: int = 32, key_format: bytes = b"mem/%010d", value_size: int = 256
) -> None:
    """`puts` puts of `value_size`-byte values to keys `key_format % index`, one client per
    thread (a shared httpx client's pool was seen failing with EBADF under 32 threads)."""
    value = base64.b64encode(b"v" * value_size).decode()
    local = threading.local()
    clients: list[httpx.Client] = []

    def put(index: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
            clients.append(local.client)
        response = local.client.post(
            url + "/v3/kv/put",
            json={"key": base64.b64encode(key_format % index).decode(), "value": value},
        )
        if response.status_code != 200:
            raise RuntimeError(f"put {index} to {url}: {response.status_code} {response.text}")

    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, range(puts)))
    finally:
        for client in clients:
            client.close()


def measure_both(
    prefix: str, measure: Measure, size: int = 3
) -> tuple[dict[str, float], dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix=prefix) as directory:
        root = Path(directory)
        (root / "etcd").mkdir()
        (root / "keyraft").mkdir()
        etcd = measure(etcd_cluster(root / "etcd", size))
        keyraft = measure(keyraft_cluster(root / "keyraft", size, ("--log-level", "warn")))
    return etcd, keyraft


def print_ratios(etcd: dict[str, float], keyraft: dict[str, float], digits: int = 0) -> None:
    width = max(24, *(len(name) + 2 for name in etcd))
    print(f"{'3 members':<{width}}{'etcd':>12}{'keyraft':>12}{'ratio':>8}")
    for name in etcd:
        ratio = keyraft[name] / etcd[name] if etcd[name] else float("nan")
        print(
            f"{name:<{width}}{etcd[name]:>12.{digits}f}{keyraft[name]:>12.{digits}f}{ratio:>8.2f}"
        )
