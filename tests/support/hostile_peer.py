"""Forged and malformed Raft frames, sent to a real member's peer port as an attacker would.

An attacker needs only what any client learns: the cluster id and the member ids are in
every response header and in the member list. Each attack returns the HTTP status the
peer port answered; `EXPECTED` says what a hardened member answers (403: a stranger's
stream is refused before its body is read; 400: a bad frame ends the stream; 413: a frame
over the cap is refused as soon as its length is read). Used by the cluster tests and by
the chaos suite's `hostile-peer` nemesis.
"""

from __future__ import annotations

import contextlib
import random
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from keyraft.app.server.requests import Put, encode_proposal
from keyraft.raft.codec import encode_message
from keyraft.raft.io.peer_transport import CLUSTER_HEADER, FRAME, FROM_HEADER
from keyraft.raft.messages import ConfState, Entry, Message, MessageType, Snapshot
from tests.support.servers import Member

INJECTED_KEY = b"hostile/injected"


@dataclass(frozen=True)
class Target:
    """A member's peer port, and the ids an attacker reads from any client response."""

    peer_url: str
    cluster_id: int
    member_id: int
    others: tuple[int, ...]  # the other members' ids, for frames that claim to be one
    term: int  # the Raft term any client response shows

    def stranger(self, rng: random.Random) -> int:
        """An id that is no member's."""
        while True:
            candidate = rng.getrandbits(64) or 1
            if candidate != self.member_id and candidate not in self.others:
                return candidate


def target(member: Member, timeout: float = 5.0) -> Target:
    listed = member.post("/v3/cluster/member/list", {}, timeout=timeout)
    body = listed.json()
    member_id = int(body["header"]["member_id"])
    others = tuple(int(entry["ID"]) for entry in body["members"] if int(entry["ID"]) != member_id)
    header = body["header"]
    return Target(
        member.peer_url, int(header["cluster_id"]), member_id, others, int(header["raft_term"])
    )


def frame(message: Message) -> bytes:
    """One stream frame, length-prefixed as the peer transport sends it."""
    data = encode_message(message)
    return FRAME.pack(len(data)) + data


def post_stream(
    target: Target,
    claimed_sender: int,
    body: bytes,
    *,
    path: str = "/raft/stream",
    content_length: int | None = None,
    timeout: float = 5.0,
    tls: ssl.SSLContext | None = None,
) -> int:
    """POST `body` to the peer port as `claimed_sender` over a raw socket (so a request
    may announce more than it sends), over TLS with `tls`; the status of the answer."""
    parts = urlsplit(target.peer_url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"{CLUSTER_HEADER}: {target.cluster_id}\r\n{FROM_HEADER}: {claimed_sender}\r\n"
        f"Content-Length: {len(body) if content_length is None else content_length}\r\n\r\n"
    ).encode()
    raw = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    try:
        connection = raw if tls is None else tls.wrap_socket(raw, server_hostname=parts.hostname)
    except OSError:  # the handshake was refused
        raw.close()
        raise
    with connection:
        with contextlib.suppress(OSError):  # a refusal may close the socket before we finish
            connection.sendall(head + body)
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                raise ConnectionError(f"the peer port closed without answering: {answer!r}")
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def _heartbeat(target: Target, sender: int, term: int) -> Message:
    return Message(MessageType.HEARTBEAT, to=target.member_id, sender=sender, term=term)


def forged_sender(target: Target, rng: random.Random) -> int:
    """A heartbeat from an id that is no member's (header and frame agree)."""
    stranger = target.stranger(rng)
    return post_stream(target, stranger, frame(_heartbeat(target, stranger, 1)))


def mismatched_sender(target: Target, rng: random.Random) -> int:
    """A stream declared as a real member's, carrying a frame from a stranger."""
    member = rng.choice(target.others)
    return post_stream(target, member, frame(_heartbeat(target, target.stranger(rng), 1)))


def huge_term(target: Target, rng: random.Random) -> int:
    """A heartbeat in term 2**64-1 under a real member's name: the codec cannot pack 2**64."""
    member = rng.choice(target.others)
    return post_stream(target, member, frame(_heartbeat(target, member, 2**64 - 1)))


def huge_frame(target: Target, rng: random.Random) -> int:
    """A length prefix of 4 GiB under a real member's name, then a few bytes."""
    member = rng.choice(target.others)
    return post_stream(target, member, FRAME.pack(2**32 - 1) + b"\0" * 64)


def garbage_frame(target: Target, rng: random.Random) -> int:
    """A frame of random bytes under a real member's name."""
    member = rng.choice(target.others)
    data = bytes([1]) + rng.randbytes(rng.randrange(8, 200))
    return post_stream(target, member, FRAME.pack(len(data)) + data)


def stranger_proposal(target: Target, rng: random.Random) -> int:
    """A well-formed PROPOSE of a put, from an id that is no member's."""
    stranger = target.stranger(rng)
    put = Put(INJECTED_KEY, b"injected by a stranger")
    entry = Entry(term=0, index=0, data=encode_proposal(rng.getrandbits(62), put))
    message = Message(MessageType.PROPOSE, to=target.member_id, sender=stranger, entries=[entry])
    return post_stream(target, stranger, frame(message))


def member_proposal(target: Target, rng: random.Random, tls: ssl.SSLContext | None) -> int:
    """A well-formed PROPOSE of a put under a real member's name (header and frame
    agree): the receiver's checks cannot tell it from the member's own; only the peer
    port's client certificates (--peer-client-cert-auth) keep it out."""
    member = rng.choice(target.others)
    put = Put(INJECTED_KEY, b"injected under a member's name")
    entry = Entry(term=0, index=0, data=encode_proposal(rng.getrandbits(62), put))
    message = Message(MessageType.PROPOSE, to=target.member_id, sender=member, entries=[entry])
    return post_stream(target, member, frame(message), tls=tls)


def huge_snapshot(target: Target, rng: random.Random) -> int:
    """A snapshot announcing a terabyte under a real member's name."""
    member = rng.choice(target.others)
    return post_stream(target, member, b"", path="/raft/snapshot", content_length=10**12)


def unrestorable_snapshot(target: Target, rng: random.Random) -> int:
    """A snapshot in the current term under a real member's name, past everything the
    member has, whose data is no state-machine dump: installing it would fail and stop
    the member."""
    member = rng.choice(target.others)
    data = rng.choice([b"not msgpack \xc1", b"\x91\x92\xa3kv\x90", b"\x92\x01\x02"])
    voters = tuple(sorted((target.member_id, *target.others)))
    snapshot = Snapshot(index=2**40, term=target.term, conf_state=ConfState(voters), data=data)
    message = Message(
        MessageType.SNAPSHOT,
        to=target.member_id,
        sender=member,
        term=target.term,
        snapshot=snapshot,
    )
    return post_stream(target, member, encode_message(message), path="/raft/snapshot")


Attack = Callable[[Target, random.Random], int]

EXPECTED: dict[Attack, int] = {
    forged_sender: 403,
    mismatched_sender: 400,
    huge_term: 400,
    huge_frame: 413,
    garbage_frame: 400,
    stranger_proposal: 403,
    huge_snapshot: 413,
    unrestorable_snapshot: 400,
}
