"""The peer port's two sides for one member: the receiver that admits only the current
members' Raft messages, and the HTTP streams to the other members."""

from __future__ import annotations

from collections.abc import Callable

from keyraft.app.server.config import ServerConfig
from keyraft.app.server.membership import Cluster
from keyraft.app.server.tls import TLSInfo, client_context, uses_https
from keyraft.raft.io.driver import RaftDriver
from keyraft.raft.io.peer_receiver import PeerReceiver, max_frame_bytes, max_snapshot_bytes
from keyraft.raft.io.peer_transport import PeerTransport


def peer_receiver(
    config: ServerConfig,
    cluster: Cluster,
    driver: RaftDriver,
    restorable: Callable[[bytes], bool],
) -> PeerReceiver:
    return PeerReceiver(
        cluster.id,
        cluster.local.id,
        driver.members,
        driver.step,
        max_frame_bytes=max_frame_bytes(config.max_request_bytes),
        max_snapshot_bytes=max_snapshot_bytes(config.quota_backend_bytes),
        restorable=restorable,
    )


def peer_transport(cluster: Cluster, driver: RaftDriver, tls: TLSInfo) -> PeerTransport:
    """Streams to the other members; to https peer URLs with this member's peer
    certificate as client certificate, verified against the peer CA (not verified at
    all with --peer-auto-tls, as etcd does)."""
    peers = {
        member.id: member.peer_urls[0]
        for member in cluster.members.values()
        if member.id != cluster.local.id
    }
    context = client_context(tls) if uses_https(list(peers.values())) else None
    return PeerTransport(
        cluster.local.id,
        cluster.id,
        peers,
        driver.report_unreachable,
        driver.report_snapshot,
        ssl_context=context,
    )
