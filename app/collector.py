"""Python's cyclic garbage collector, tuned for a server with a large long-lived heap.

A full collection walks every tracked object and stalls the event loop while it does:
measured on a 2-core VM, ~100 ms for the ~80,000 objects a started member holds
(modules, FastAPI's routes and schemas), plus ~27 ms per 100,000 keys of the key index,
and under a put load it ran every few seconds; that stall was the p99 of every request
in flight. So, once a member has started (its data recovered, before any client
connects), everything alive is frozen out of collections (`gc.freeze`): those objects
are never garbage in cycles (a member keeps its modules and recovered index for life),
and later ones are collected as usual. The youngest generation's threshold goes from
700 allocations to 10,000: a server allocates per request, and each young collection
also walks the young containers (a Raft batch, a response's key list) whole.

Pauses are exported (`keyraft_gc_pause_seconds` by generation), so an operator can
see a stall's cause.
"""

from __future__ import annotations

import gc
import time

from prometheus_client import Histogram

YOUNG_THRESHOLD = 10_000
GC_PAUSE = Histogram(
    "keyraft_gc_pause_seconds",
    "Event-loop stalls of Python's garbage collector, by generation collected",
    ["generation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
)
_by_generation = [GC_PAUSE.labels(str(generation)) for generation in range(3)]
_started = 0.0


def _time_pause(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.perf_counter()
    else:
        _by_generation[info["generation"]].observe(time.perf_counter() - _started)


def settle_after_startup() -> int:
    """Freeze what a started member holds, raise the young threshold, time the pauses.
    Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    if _time_pause not in gc.callbacks:
        gc.callbacks.append(_time_pause)
    return gc.get_freeze_count()
