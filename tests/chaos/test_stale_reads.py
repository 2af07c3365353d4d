"""The checker catches a real stale read: serializable reads from a partitioned member.

A member cut away from the majority keeps answering `serializable: true` reads from its
own, now stale, store. The recorded history is then not linearizable, and the checker
must say so; if it passed this, its passes on the real runs would mean nothing.
"""

from __future__ import annotations

from pathlib import Path

from tests.chaos.checker import PUT, Verdict, check
from tests.chaos.harness import make_cluster
from tests.chaos.history import History
from tests.chaos.run import Config, run
from tests.chaos.workload import Client


def test_serializable_reads_from_a_partitioned_member_are_flagged(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, 3)
    history = History()
    try:
        cluster.start()
        leader = cluster.wait_leader()
        isolated = next(member for member in cluster.members if member is not leader)
        majority = [member.name for member in cluster.members if member is not isolated]
        client = Client(0, cluster, history, ["k"], seed=0, serializable=True, timeout=5)
        client.write(leader.client_url, "k", PUT)
        # Wait (bounded) until the soon-isolated member has applied the first value.
        for _ in range(200):
            client.get(isolated.client_url, "k")
            if history.operations[-1].result is not None:
                break
        cluster.proxy.partition([isolated.name], majority)
        client.write(leader.client_url, "k", PUT)
        client.get(isolated.client_url, "k")
        cluster.proxy.heal()
    finally:
        cluster.stop()
    operations = history.snapshot()
    writes = [op for op in operations if op.kind == PUT]
    assert len(writes) == 2 and all(op.known for op in writes), operations
    assert operations[-1].result == writes[0].value, "the isolated member should read stale"
    result = check(operations)
    assert result.verdict is Verdict.NOT_LINEARIZABLE, result.summary()
    assert result.failing is not None and result.failing.key == "k"
    assert repr(writes[0].value) in result.failing.explanation


def test_a_chaos_run_with_serializable_reads_under_partitions_is_flagged(
    tmp_path: Path,
) -> None:
    """The same runner as `make chaos`, only with stale reads allowed: it must fail."""
    config = Config(
        seed=4, duration=10, nodes=3, faults=("partition",), serializable=True, workdir=tmp_path
    )
    report = run(config)
    assert report.faults, report.render()
    assert report.linearizability is not None
    assert report.linearizability.verdict is Verdict.NOT_LINEARIZABLE, report.render()
    assert not report.ok
    assert "--serializable" in report.render()
