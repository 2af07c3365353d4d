"""Member and cluster identities, derived as etcd derives them, so they are stable.

A member's ID hashes its sorted peer URLs and the cluster token; the cluster's ID hashes
its members' IDs. Restarting with the same flags yields the same IDs.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from keyraft.app.server.config import ServerConfig


def member_id(peer_urls: list[str], token: str) -> int:
    digest = hashlib.sha1(("".join(sorted(peer_urls)) + token).encode()).digest()
    return struct.unpack(">Q", digest[:8])[0]


def new_member_id(peer_urls: list[str], unix_seconds: int) -> int:
    """The ID of a member added at runtime, as etcd 3.4's member add derives it: its
    sorted peer URLs, an empty cluster name and the time in seconds, so a member added
    again with the same URLs (in another second) gets a new ID."""
    return member_id(peer_urls, str(unix_seconds))


def cluster_id(member_ids: list[int]) -> int:
    data = b"".join(struct.pack(">Q", identifier) for identifier in sorted(member_ids))
    return struct.unpack(">Q", hashlib.sha1(data).digest()[:8])[0]


@dataclass(slots=True)
class Member:
    id: int
    name: str
    peer_urls: list[str]
    client_urls: list[str] = field(default_factory=list)
    is_learner: bool = False


@dataclass(slots=True)
class Cluster:
    """This member, every member by ID, and the cluster's ID, as the flags define them."""

    local: Member
    members: dict[int, Member]
    id: int


def cluster_from_config(config: ServerConfig) -> Cluster:
    token = config.initial_cluster_token
    local = Member(
        member_id(config.initial_advertise_peer_urls, token),
        config.name,
        list(config.initial_advertise_peer_urls),
        list(config.advertise_client_urls),
    )
    members = {
        member_id(urls, token): Member(member_id(urls, token), name, urls)
        for name, urls in config.cluster_members().items()
    }
    return Cluster(local, members, cluster_id(list(members)))
