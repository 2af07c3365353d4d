"""The member's CPU scheduling policy, set once at start-up.

A member is a throughput-bound server: under load its threads and its peers' processes
wake each other many times per batch of writes (a peer frame, a client answer, the WAL's
thread), and with the default policy every such wake-up may preempt whatever runs on the
core, mid-request. SCHED_BATCH keeps the same share of CPU but lets a woken thread wait
for the running one to block or use up its slice. Measured on 2 cores with bench.perf's
loads (two 3-member clusters up side by side, one per policy, loads alternated): puts
spread over the members +10% throughput and -12% CPU per put, puts to the leader +8%,
p99 no worse; one member alone is unchanged (within 2%). `--cpu-scheduling normal` keeps
the default policy.
"""

from __future__ import annotations

import os

POLICIES = ("batch", "normal")


def apply_cpu_scheduling(policy: str) -> str | None:
    """Give the calling thread `policy`; threads it starts afterwards inherit it, so this
    runs before any is started. Returns why it could not, for a warning (the member then
    runs with the default policy)."""
    if policy == "normal":
        return None
    if not hasattr(os, "SCHED_BATCH"):
        return "SCHED_BATCH is not available on this system"
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except OSError as error:
        return f"could not set SCHED_BATCH: {error.strerror}"
    return None
