"""Large reads do not cost the leader its leadership (issue #12): the event loop that
serves them also runs Raft's ticks and heartbeats, so they are read and encoded in steps.

With the election timeout at 400 ms, one unstepped full-keyspace range over these
keys held the leader's loop for longer than that, and ten of them in parallel made the
followers elect another leader. Figures over 200,000 keys: `python -m bench.big_ranges`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.big_ranges import EVERY_KEY, big_ranges, load_keys, replay_history
from tests.support.servers import Member, find_leader, keyraft_cluster, start_all

KEYS = 30_000
PARALLEL = 10
# Generous: a bound on "answered", not a latency target (bench/big_ranges.py measures).
SMALL_REQUEST_DEADLINE_S = 10.0
# What is measured is whether the member's loop keeps up: other tests' load would decide it.
pytestmark = pytest.mark.solo


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Member]]:
    """A 3-member cluster holding KEYS keys (one shared by the tests: loading is slow)."""
    members = keyraft_cluster(
        tmp_path_factory.mktemp("large"),
        3,
        ("--heartbeat-interval", "40", "--election-timeout", "400"),
    )
    try:
        start_all(members)
        load_keys(find_leader(members).client_url, KEYS)
        yield members
    finally:
        for member in members:
            member.stop()


def test_parallel_full_keyspace_ranges_cause_no_election(loaded: list[Member]) -> None:
    members = loaded
    leader = find_leader(members)
    outcome = big_ranges(members, leader, PARALLEL, small_timeout=SMALL_REQUEST_DEADLINE_S)
    assert len(outcome.range_counts) == PARALLEL
    assert set(outcome.range_counts) <= {KEYS, KEYS + 1}  # + the small requests' key
    assert outcome.small_failures == [], outcome.summary()
    assert outcome.small_seconds, "no small request was answered meanwhile"
    assert outcome.terms_after == outcome.terms_before, outcome.summary()


def test_watches_replaying_all_history_cause_no_election(loaded: list[Member]) -> None:
    """A watch from revision 1 replays every change from history: read, matched and
    encoded a step at a time. Four of them held the loop for seconds (100,000 keys:
    5.5 s and an election; with one revision deleting every key, 13.6 s). Runs last: it
    deletes every key."""
    members = loaded
    leader = find_leader(members)
    deleted = httpx.post(f"{leader.client_url}/v3/kv/deleterange", json=EVERY_KEY, timeout=60)
    assert int(deleted.json()["deleted"]) >= KEYS
    events = 2 * KEYS  # every put, then every delete (all of one revision)
    outcome = big_ranges(members, leader, 4, SMALL_REQUEST_DEADLINE_S, replay_history, events)
    assert len(outcome.range_counts) == 4 and min(outcome.range_counts) >= events
    assert outcome.small_failures == [], outcome.summary()
    assert outcome.small_seconds, "no small request was answered meanwhile"
    assert outcome.terms_after == outcome.terms_before, outcome.summary()
