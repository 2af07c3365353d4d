"""Crash consistency: kill -9 one member during heavy writes, again and again.

Writers put unique keys on random live members the whole time; a member chosen by the
seed is killed mid-write and restarted on the same data dir, `rounds` times. Afterwards
every acknowledged key must be on every member, and the members must be identical
(same revision, same keys, values and versions).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.chaos.harness import b64, make_cluster, unb64
from tests.chaos.verify import ALL, wait_converged
from tests.support.servers import Member

RESTART_TIMEOUT_S = 60.0


@dataclass
class CrashReport:
    rounds: int
    victims: list[str] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _writer(number: int, members: list[Member], report: CrashReport, stop: threading.Event) -> None:
    rng = random.Random(number)
    with httpx.Client(timeout=3) as client:
        sequence = 0
        while not stop.is_set():
            sequence += 1
            key = f"crash/{number}/{sequence:06d}"
            member = rng.choice(members)
            body = {"key": b64(key), "value": b64(key)}
            try:
                response = client.post(member.client_url + "/v3/kv/put", json=body)
            except httpx.HTTPError:
                continue
            with report.lock:
                report.attempts += 1
                if response.status_code == 200:
                    report.acknowledged[key] = int(response.json()["header"]["revision"])


def run_crashes(workdir: Path, seed: int, rounds: int = 20, writers: int = 4) -> CrashReport:
    """Kill and restart members `rounds` times under load; check nothing acknowledged is lost."""
    started = time.monotonic()
    rng = random.Random(f"{seed}/crash")
    report = CrashReport(rounds)
    cluster = make_cluster(workdir, 3)
    stop = threading.Event()
    threads = [
        threading.Thread(target=_writer, args=(n, cluster.members, report, stop))
        for n in range(writers)
    ]
    try:
        cluster.start()
        cluster.wait_leader()
        for thread in threads:
            thread.start()
        for _ in range(rounds):
            stop.wait(rng.uniform(0.3, 0.8))
            victim = rng.choice(cluster.members)
            report.victims.append(victim.name)
            victim.kill()
            victim.start(RESTART_TIMEOUT_S)
        stop.wait(0.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        cluster.wait_leader()
        report.problems.extend(wait_converged(cluster))
        for member in cluster.members:
            body = httpx.post(member.client_url + "/v3/kv/range", json=ALL, timeout=10).json()
            held = {unb64(kv["key"]): unb64(kv["value"]) for kv in body.get("kvs", [])}
            missing = [key for key in report.acknowledged if held.get(key) != key]
            if missing:
                report.problems.append(
                    f"{member.name} lost {len(missing)} acknowledged writes, e.g. {missing[:3]}"
                )
    finally:
        stop.set()
        cluster.stop()
    report.seconds = time.monotonic() - started
    return report
