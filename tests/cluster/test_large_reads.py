"""Large reads do not cost the leader its leadership (issue #12): the event loop that
serves them also runs Raft's ticks and heartbeats, so they are read and encoded in steps.

With the election timeout at 400 ms, one unstepped full-keyspace range over these
keys held the leader's loop for longer than that, and ten of them in parallel made the
followers elect another leader. Figures over 200,000 keys: `python -m bench.big_ranges`.
"""

from __future__ import annotations

from tests.support.big_ranges import big_ranges, load_keys
from tests.support.servers import find_leader

KEYS = 30_000
PARALLEL = 10
# Generous: a bound on "answered", not a latency target (bench/big_ranges.py measures).
SMALL_REQUEST_DEADLINE_S = 10.0


def test_parallel_full_keyspace_ranges_cause_no_election(cluster_factory) -> None:
    members = cluster_factory(3, ("--heartbeat-interval", "40", "--election-timeout", "400"))
    leader = find_leader(members)
    load_keys(leader.client_url, KEYS)
    outcome = big_ranges(members, leader, PARALLEL, small_timeout=SMALL_REQUEST_DEADLINE_S)
    assert len(outcome.range_counts) == PARALLEL
    assert set(outcome.range_counts) <= {KEYS, KEYS + 1}  # + the small requests' key
    assert outcome.small_failures == [], outcome.summary()
    assert outcome.small_seconds, "no small request was answered meanwhile"
    assert outcome.terms_after == outcome.terms_before, outcome.summary()
