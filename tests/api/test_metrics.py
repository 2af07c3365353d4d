"""/metrics on one keyraft process, parsed with prometheus_client's own parser: etcd's
names are there, and the counters move with load."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.compare import b64
from tests.support.servers import Member, free_port, keyraft_member

NAMES = {
    "etcd_server_has_leader",
    "etcd_server_leader_changes_seen",
    "etcd_server_proposals_committed_total",
    "etcd_server_proposals_applied_total",
    "etcd_server_proposals_pending",
    "etcd_server_proposals_failed",
    "etcd_server_slow_apply",
    "etcd_disk_wal_fsync_duration_seconds",
    "etcd_disk_backend_commit_duration_seconds",
    "etcd_mvcc_db_total_size_in_bytes",
    "etcd_mvcc_db_total_size_in_use_in_bytes",
    "etcd_debugging_mvcc_keys_total",
    "etcd_network_peer_sent_bytes",
    "etcd_network_peer_received_bytes",
    "etcd_mvcc_watcher_total",
    "grpc_server_handled",
    "grpc_server_handling_seconds",
}


METRICS_URL = f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    extra = ("--listen-metrics-urls", METRICS_URL)
    started = keyraft_member(tmp_path_factory.mktemp("metrics"), extra=extra)
    try:
        yield started.start()
    finally:
        started.stop()


def scrape(member: Member, url: str = "") -> dict[tuple[str, tuple], float]:
    response = httpx.get((url or member.client_url) + "/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        samples[(family.name, ())] = 0.0
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_carry_etcds_names_and_move_with_load(member: Member) -> None:
    before = scrape(member)
    assert {name for name, labels in before if not labels} >= NAMES
    assert before[("etcd_server_has_leader", ())] == 1
    for n in range(20):
        body = {"key": b64(f"metrics/{n}"), "value": b64("v")}
        assert httpx.post(member.client_url + "/v3/kv/put", json=body).status_code == 200
    httpx.post(member.client_url + "/v3/kv/range", json={"key": b64("")})  # key not provided
    after = scrape(member)
    put = (("grpc_code", "OK"), ("grpc_method", "Put"), ("grpc_service", "etcdserverpb.KV"))
    put_labels = (*put, ("grpc_type", "unary"))
    assert after[("grpc_server_handled_total", put_labels)] >= 20
    refused = (
        ("grpc_code", "InvalidArgument"),
        ("grpc_method", "Range"),
        ("grpc_service", "etcdserverpb.KV"),
        ("grpc_type", "unary"),
    )
    assert after[("grpc_server_handled_total", refused)] == 1
    for name in ("etcd_server_proposals_applied_total", "etcd_debugging_mvcc_keys_total"):
        assert after[(name, ())] >= before[(name, ())] + 20
    fsyncs = ("etcd_disk_wal_fsync_duration_seconds_count", ())
    assert after[fsyncs] > before.get(fsyncs, 0)


def test_the_metrics_listener_serves_metrics_and_health_only(member: Member) -> None:
    assert ("etcd_server_has_leader", ()) in scrape(member, METRICS_URL)
    assert httpx.get(METRICS_URL + "/health").json() == {"health": "true"}
    assert httpx.post(METRICS_URL + "/v3/kv/range", json={}).status_code == 404


def test_request_latency_histogram_buckets_are_prometheus_cumulative_le() -> None:
    """The per-RPC histogram is kept as plain numbers: a value lands in the first bucket
    whose bound is >= it (Prometheus' `le`), and buckets export cumulatively."""
    from types import SimpleNamespace

    from keyraft.app.metrics import _Requests

    requests = _Requests()
    rpc = SimpleNamespace(path="/v3/kv/put", request_schema="etcdserverpbPutRequest", tag="KV")
    for seconds in (0.001, 0.0015, 100.0):
        requests.observe(rpc, 0, seconds)  # type: ignore[arg-type]
    requests.observe(rpc, 7, 0.002)  # type: ignore[arg-type]
    handled, handling = requests.collect()
    counts = {sample.labels["grpc_code"]: sample.value for sample in handled.samples}
    assert counts == {"OK": 3, "PermissionDenied": 1}
    buckets = {
        sample.labels["le"]: sample.value
        for sample in handling.samples
        if sample.name.endswith("_bucket")
    }
    assert (buckets["0.001"], buckets["0.002"], buckets["8.192"], buckets["+Inf"]) == (1, 3, 3, 4)
    total = [s.value for s in handling.samples if s.name.endswith("_sum")]
    assert total == [pytest.approx(100.0045)]
