"""The garbage collector's settings for a started member (app/collector.py)."""

from __future__ import annotations

import gc

from prometheus_client import REGISTRY

from keyraft.app.collector import YOUNG_THRESHOLD, _time_pause, settle_after_startup


def _pauses(generation: int) -> float:
    return (
        REGISTRY.get_sample_value("keyraft_gc_pause_seconds_count", {"generation": str(generation)})
        or 0.0
    )


def test_startup_objects_leave_full_collections_and_pauses_are_measured() -> None:
    thresholds = gc.get_threshold()
    try:
        held = [[index] for index in range(50_000)]  # a recovered index, say
        frozen = settle_after_startup()
        assert frozen >= len(held)
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        before = _pauses(2)
        gc.collect()
        assert _pauses(2) == before + 1
        assert all(item is not held[0] for item in gc.get_objects(2))  # not walked again
    finally:
        gc.callbacks.remove(_time_pause)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
