"""Prometheus metrics, named after etcd's where the meaning is the same.

Cheap on the hot path by construction: the server and Raft keep plain integer counters
(and the driver calls a timing hook once per synced batch); this collector reads them only
when /metrics is scraped. Per-RPC counters and latency histograms (go-grpc-prometheus's
names, which etcd exports) are plain numbers too, exported at scrape time.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from keyraft.app.config import KEYRAFT_VERSION

if TYPE_CHECKING:
    from keyraft.app.server.etcdserver import EtcdServer


class Rpc(Protocol):
    """What labels a gateway RPC (`gateway.Rpc`)."""

    path: str
    request_schema: str
    tag: str


BUILD = Info("keyraft_build", "keyraft's version")
BUILD.info({"version": KEYRAFT_VERSION})

# etcd's buckets: 1 ms doubling to about 8 s
_DISK_BUCKETS = tuple(0.001 * 2**n for n in range(14))
WAL_FSYNC = Histogram(
    "etcd_disk_wal_fsync_duration_seconds",
    "Latency of synced Raft WAL saves (write and fsync of one batch)",
    buckets=_DISK_BUCKETS,
)
BACKEND_COMMIT = Histogram(
    "etcd_disk_backend_commit_duration_seconds",
    "Latency of backend syncs (RocksDB WAL flush, at Raft log compactions)",
    buckets=_DISK_BUCKETS,
)
_LABELS = ("grpc_type", "grpc_service", "grpc_method")
# grpc's code names by number (etcd's labels)
CODE_NAMES = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
]


class _Requests(Collector):
    """Per-RPC counts by code and latency histograms kept as plain numbers (a dict update,
    a bisect into the buckets), exported as go-grpc-prometheus's families at scrape time:
    prometheus_client's own Counter and Histogram cost ~4 µs a request, on every one."""

    def __init__(self) -> None:
        self.handled: dict[tuple[str, int], int] = {}
        # path -> [count per bucket (the last one: above every bound), sum of seconds]
        self.handling: dict[str, list] = {}
        self.rpcs: dict[str, Rpc] = {}

    def observe(self, rpc: Rpc, code: int, seconds: float) -> None:
        path = rpc.path
        key = (path, code)
        self.handled[key] = self.handled.get(key, 0) + 1
        latency = self.handling.get(path)
        if latency is None:
            latency = self.handling[path] = [[0] * (len(_DISK_BUCKETS) + 1), 0.0]
            self.rpcs[path] = rpc
        latency[0][bisect_left(_DISK_BUCKETS, seconds)] += 1
        latency[1] += seconds

    def collect(self) -> Iterator[Metric]:
        handled = CounterMetricFamily(
            "grpc_server_handled", "RPCs completed, by code", labels=[*_LABELS, "grpc_code"]
        )
        for (path, code), count in sorted(self.handled.items()):
            name = CODE_NAMES[code] if 0 <= code < len(CODE_NAMES) else str(code)
            handled.add_metric([*_labels(self.rpcs[path]), name], count)
        handling = HistogramMetricFamily(
            "grpc_server_handling_seconds", "Latency of unary RPCs", labels=list(_LABELS)
        )
        for path, (counts, total) in sorted(self.handling.items()):
            bounds = [*(repr(bound) for bound in _DISK_BUCKETS), "+Inf"]
            handling.add_metric(
                list(_labels(self.rpcs[path])),
                list(zip(bounds, accumulate(counts), strict=True)),
                total,
            )
        yield handled
        yield handling


def _labels(rpc: Rpc) -> tuple[str, str, str]:
    method = rpc.request_schema.removeprefix("etcdserverpb").removesuffix("Request")
    service = {"KV": "KV", "Lease": "Lease", "Auth": "Auth", "Cluster": "Cluster"}.get(
        rpc.tag, "Maintenance"
    )
    return "unary", f"etcdserverpb.{service}", method


REQUESTS = _Requests()
REGISTRY.register(REQUESTS)


class ServerCollector(Collector):
    """The server's own numbers, read at scrape time."""

    def __init__(self) -> None:
        self.server: EtcdServer | None = None

    def collect(self) -> Iterator[Metric]:
        server = self.server
        if server is None:
            return
        gauges = {
            "etcd_server_has_leader": ("Whether a leader exists", int(server.has_leader())),
            "etcd_server_proposals_committed_total": (
                "The committed Raft index",
                server.commit_index,
            ),
            "etcd_server_proposals_applied_total": (
                "The applied Raft index",
                server.applied_index(),
            ),
            "etcd_server_proposals_pending": ("Proposals awaiting apply", len(server.waits)),
            "etcd_mvcc_db_total_size_in_bytes": ("Backend size on disk", server.db_size()),
            "etcd_mvcc_db_total_size_in_use_in_bytes": (
                "Backend bytes in use (table files and memtables)",
                server.state.backend.live_bytes(),
            ),
            "etcd_debugging_mvcc_keys_total": ("Keys in the index", server.key_count()),
            "etcd_debugging_mvcc_current_revision": (
                "The current revision",
                server.current_revision,
            ),
            "etcd_debugging_mvcc_compact_revision": (
                "The last compacted revision",
                max(server.compact_revision, 0),
            ),
            "etcd_mvcc_watcher_total": ("Open watchers", len(server.watch_hub.watchers)),
        }
        for name, (text, value) in gauges.items():
            yield GaugeMetricFamily(name, text, value=value)
        counters = {
            "etcd_server_leader_changes_seen_total": (
                "Leader changes seen",
                server.leader_changes,
            ),
            "etcd_server_proposals_failed_total": (
                "Proposals that failed (no leader, timed out, stopped)",
                server.proposals_failed,
            ),
            "etcd_server_slow_apply_total": (
                "Applies of a batch that took over 100 ms",
                server.slow_applies,
            ),
        }
        for name, (text, value) in counters.items():
            yield CounterMetricFamily(name.removesuffix("_total"), text, value=value)
        yield from _peer_bytes(server)


def _peer_bytes(server: EtcdServer) -> Iterator[Metric]:
    sent = CounterMetricFamily(
        "etcd_network_peer_sent_bytes", "Bytes streamed to each peer", labels=["To"]
    )
    sent_bytes = getattr(server.transport, "sent_bytes", None)  # the real transport has it
    for peer, count in (sent_bytes() if sent_bytes else {}).items():
        sent.add_metric([f"{peer:x}"], count)
    received = CounterMetricFamily(
        "etcd_network_peer_received_bytes", "Bytes streamed from each peer", labels=["From"]
    )
    for peer, count in server.peer_receiver.receiver.received_bytes.items():
        received.add_metric([f"{peer:x}"], count)
    yield sent
    yield received


SERVER = ServerCollector()
REGISTRY.register(SERVER)


def attach(server: EtcdServer) -> None:
    """Export `server`'s numbers (one server per process is scraped)."""
    SERVER.server = server
    server.driver.observe_wal_sync = WAL_FSYNC.observe
    server.driver.observe_backend_sync = BACKEND_COMMIT.observe


def metrics_app(server: EtcdServer):  # noqa: ANN201 - an ASGI callable
    """The --listen-metrics-urls listener: GET /metrics and /health only (etcd's)."""

    async def app(scope: dict, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == "/metrics":
            status, kind, body = 200, CONTENT_TYPE_LATEST.encode(), generate_latest()
        elif path == "/health":
            healthy = server.has_leader()
            status, kind = (200 if healthy else 503), b"text/plain; charset=utf-8"
            body = b'{"health":"true"}' if healthy else b'{"health":"false"}'
        else:
            status, kind, body = 404, b"text/plain; charset=utf-8", b"404 page not found\n"
        headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app
