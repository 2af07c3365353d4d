"""Run one measurement on a 3-member etcd and a 3-member keyraft, and print the ratios."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.support.servers import Member, etcd_cluster, keyraft_cluster

Measure = Callable[[list[Member]], dict[str, float]]


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
    print(f"{'3 members':<24}{'etcd':>12}{'keyraft':>12}{'ratio':>8}")
    for name in etcd:
        ratio = keyraft[name] / etcd[name] if etcd[name] else float("nan")
        print(f"{name:<24}{etcd[name]:>12.{digits}f}{keyraft[name]:>12.{digits}f}{ratio:>8.2f}")
