"""Member and cluster identities, derived as etcd derives them, so they are stable.

A member's ID hashes its sorted peer URLs and the cluster token; the cluster's ID hashes
its members' IDs. Restarting with the same flags yields the same IDs.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field


def member_id(peer_urls: list[str], token: str) -> int:
    digest = hashlib.sha1(("".join(sorted(peer_urls)) + token).encode()).digest()
    return struct.unpack(">Q", digest[:8])[0]


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
