"""Prometheus metrics, named after etcd's where the meaning is the same.

Cheap on the hot path by construction: the server and Raft keep plain integer counters
(and the driver calls a timing hook once per synced batch); this collector reads them only
when /metrics is scraped. Per-RPC counters and latency histograms (go-grpc-prometheus's
names, which etcd exports) cost one cached child lookup and two updates per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
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
HANDLED = Counter("grpc_server_handled_total", "RPCs completed, by code", [*_LABELS, "grpc_code"])
HANDLING = Histogram(
    "grpc_server_handling_seconds", "Latency of unary RPCs", _LABELS, buckets=_DISK_BUCKETS
)
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


class _Children:
    """Labelled children per (RPC path, code), made once: `.labels()` costs more."""

    def __init__(self) -> None:
        self.handled: dict[tuple[str, int], object] = {}
        self.handling: dict[str, object] = {}

    def observe(self, rpc: Rpc, code: int, seconds: float) -> None:
        key = (rpc.path, code)
        handled = self.handled.get(key)
        if handled is None:
            labels = _labels(rpc)
            name = CODE_NAMES[code] if 0 <= code < len(CODE_NAMES) else str(code)
            handled = self.handled[key] = HANDLED.labels(*labels, name)
        handling = self.handling.get(rpc.path)
        if handling is None:
            handling = self.handling[rpc.path] = HANDLING.labels(*_labels(rpc))
        handled.inc()  # type: ignore[attr-defined]
        handling.observe(seconds)  # type: ignore[attr-defined]


def _labels(rpc: Rpc) -> tuple[str, str, str]:
    method = rpc.request_schema.removeprefix("etcdserverpb").removesuffix("Request")
    service = {"KV": "KV", "Lease": "Lease", "Auth": "Auth", "Cluster": "Cluster"}.get(
        rpc.tag, "Maintenance"
    )
    return "unary", f"etcdserverpb.{service}", method


REQUESTS = _Children()


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
