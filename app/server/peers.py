"""The peer port's two sides for one member: the receiver that admits only the current
members' Raft messages (and answers `GET /members`, from which a joining member learns
the cluster, and `/members/hashkv`, which the leader's corruption check asks), and the
HTTP streams to the other members."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Container

import httpx
import orjson

from keyraft.app.server import errors
from keyraft.app.server.config import ServerConfig
from keyraft.app.server.corruption import PEER_HASHKV_PATH, KVHash
from keyraft.app.server.membership import Cluster, Member
from keyraft.app.server.tls import TLSInfo, client_context, uses_https
from keyraft.raft.io.driver import RaftDriver
from keyraft.raft.io.peer_receiver import PeerReceiver, max_frame_bytes, max_snapshot_bytes
from keyraft.raft.io.peer_transport import PeerTransport

MEMBERS_PATH = "/members"
CLUSTER_ID_HEADER = "x-etcd-cluster-id"
JOIN_TIMEOUT_S = 10.0
PROMOTE_PATH = "/members/promote/"  # + the learner's id in hex, as etcd's peer handler
HASHKV_BODY_LIMIT = 4096  # {"revision": n} is all a hashkv request holds


class JoinError(Exception):
    """A member started with --initial-cluster-state existing could not join."""


def peer_receiver(
    config: ServerConfig,
    cluster: Cluster,
    members: Callable[[], Container[int]],
    removed: Callable[[], Container[int]],
    driver: RaftDriver,
    restorable: Callable[[bytes], bool],
) -> PeerReceiver:
    return PeerReceiver(
        cluster.id,
        cluster.local.id,
        members,
        driver.step,
        max_frame_bytes=max_frame_bytes(config.max_request_bytes),
        max_snapshot_bytes=max_snapshot_bytes(config.quota_backend_bytes),
        restorable=restorable,
        removed=removed,
    )


class PeerPort:
    """The peer listener's ASGI app: `GET /members` answers the member list (etcd's
    peer `/members`), `/members/hashkv` this member's hashkv to another member,
    everything else is Raft traffic for the receiver."""

    def __init__(
        self,
        receiver: PeerReceiver,
        members: Callable[[], list[Member]],
        cluster_id: int,
        hash_kv: Callable[[int], Awaitable[KVHash]],
        promote: Callable[[int], Awaitable[list[dict]]],
    ) -> None:
        self.receiver = receiver
        self.members = members
        self.cluster_id = cluster_id
        self.hash_kv = hash_kv  # the hash at a revision (0: current), as maintenance's
        self.promote = promote  # promotes a learner on the leader; the member list after

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["path"] == PEER_HASHKV_PATH:
            status, body = await self._hash_kv(scope, receive)
            kind = b"application/json" if status == 200 else b"text/plain; charset=utf-8"
            await _send(send, status, body, kind, self.cluster_id)
            return
        if scope["type"] == "http" and scope["path"].startswith(PROMOTE_PATH):
            status, body = await self._promote(scope)
            await _send(send, status, body, b"application/json", self.cluster_id)
            return
        if scope["type"] != "http" or scope["path"] != MEMBERS_PATH or scope["method"] != "GET":
            await self.receiver(scope, receive, send)
            return
        body = orjson.dumps([member_json(member) for member in self.members()])
        await _send(send, 200, body, b"application/json", self.cluster_id)

    async def _hash_kv(self, scope: dict, receive: Callable) -> tuple[int, bytes]:
        """(status, body) of a hashkv request: another member of this cluster asking
        (etcd's peer handler takes GET with a JSON body; POST is taken too)."""
        if scope["method"] not in ("GET", "POST"):
            return 405, b"Method Not Allowed\n"
        headers = {name.decode("latin-1").lower(): value for name, value in scope["headers"]}
        refusal = self.receiver.refusal(headers)
        if refusal is not None:
            return refusal[0], f"{refusal[1]}\n".encode()
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > HASHKV_BODY_LIMIT:
                return 413, b"request body too large\n"
            if not message.get("more_body"):
                break
        try:
            request = orjson.loads(body or b"{}")
            revision = request.get("revision", 0)
            if type(revision) is not int:
                raise TypeError(revision)
        except (orjson.JSONDecodeError, AttributeError, TypeError):
            return 400, b"error unmarshalling request\n"
        try:
            found = await self.hash_kv(revision)
        except errors.ServerError as error:
            return 400, f"{error.message}\n".encode()
        return 200, found.peer_json()

    async def _promote(self, scope: dict) -> tuple[int, bytes]:
        """(status, body) of another member asking this one, the leader, to promote a
        learner on a client's behalf: the member list, or `{"message": ...}`."""
        if scope["method"] != "POST":
            return 405, orjson.dumps({"message": "Method Not Allowed"})
        headers = {name.decode("latin-1").lower(): value for name, value in scope["headers"]}
        refusal = self.receiver.refusal(headers)
        if refusal is not None:
            return refusal[0], orjson.dumps({"message": refusal[1]})
        try:
            member_id = int(scope["path"].removeprefix(PROMOTE_PATH), 16)
        except ValueError:
            return 400, orjson.dumps({"message": "bad member id"})
        try:
            return 200, orjson.dumps(await self.promote(member_id))
        except errors.ServerError as error:
            return 412, orjson.dumps({"message": error.message})


async def ask_leader_to_promote(
    urls: list[str], member_id: int, headers: dict[str, str], verify: object, timeout: float
) -> list[dict]:
    """Have the leader (at its peer `urls`) promote `member_id`: the member list after,
    or the leader's error raised as the ServerError it names."""
    async with httpx.AsyncClient(verify=verify, timeout=timeout) as client:  # type: ignore[arg-type]
        for url in urls:
            try:
                response = await client.post(
                    f"{url.rstrip('/')}{PROMOTE_PATH}{member_id:x}", headers=headers
                )
                answer = response.json()
            except (httpx.HTTPError, ValueError):
                continue
            if response.status_code == 200:
                return answer
            raise errors.from_message(answer.get("message", ""))
    raise errors.NoLeader


async def _send(send: Callable, status: int, body: bytes, kind: bytes, cluster_id: int) -> None:
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (CLUSTER_ID_HEADER.encode(), f"{cluster_id:x}".encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def member_json(member: Member) -> dict:
    return {
        "id": f"{member.id:x}",
        "name": member.name,
        "peerURLs": member.peer_urls,
        "clientURLs": member.client_urls,
        "isLearner": member.is_learner,
    }


def fetch_cluster(config: ServerConfig, tls: TLSInfo) -> Cluster:
    """Ask the other members of --initial-cluster who is in the cluster (etcd's
    GetClusterFromRemotePeers); this member is the one with its advertised peer URLs."""
    own = sorted(config.initial_advertise_peer_urls)
    urls = [
        url for urls in config.cluster_members().values() if sorted(urls) != own for url in urls
    ]
    verify = client_context(tls) if uses_https(urls) else True
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    failures: list[str] = []
    with httpx.Client(timeout=2.0, verify=verify) as client:
        while time.monotonic() < deadline:
            for url in urls:
                try:
                    response = client.get(url.rstrip("/") + MEMBERS_PATH)
                    if response.status_code == 200:
                        return _joined_cluster(config, response)
                    failures.append(f"{url}: {response.status_code}")
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
                    failures.append(f"{url}: {error}")
            time.sleep(0.2)
    raise JoinError(
        "could not retrieve cluster information from the given URLs: "
        + "; ".join(failures[-3:] or ["no other member in --initial-cluster"])
    )


def _joined_cluster(config: ServerConfig, response: httpx.Response) -> Cluster:
    cluster_id = int(response.headers[CLUSTER_ID_HEADER], 16)
    members = {}
    for item in response.json():
        member = Member(
            int(item["id"], 16),
            item["name"],
            list(item["peerURLs"]),
            list(item["clientURLs"]),
            bool(item["isLearner"]),
        )
        members[member.id] = member
    own = sorted(config.initial_advertise_peer_urls)
    for member in members.values():
        if sorted(member.peer_urls) == own:
            member.name = config.name
            member.client_urls = list(config.advertise_client_urls)
            return Cluster(member, members, cluster_id)
    raise JoinError(
        f"no member of cluster {cluster_id:x} has peer URLs {','.join(own)} "
        "(add it with member add first)"
    )


def peer_transport(
    cluster: Cluster, driver: RaftDriver, tls: TLSInfo, on_removed: Callable[[], None]
) -> PeerTransport:
    """Streams to the other members; to https peer URLs with this member's peer
    certificate as client certificate, verified against the peer CA (not verified at
    all with --peer-auto-tls, as etcd does)."""
    peers = {
        member.id: member.peer_urls[0]
        for member in cluster.members.values()
        if member.id != cluster.local.id
    }
    urls = list(peers.values()) + cluster.local.peer_urls
    context = client_context(tls) if uses_https(urls) else None
    return PeerTransport(
        cluster.local.id,
        cluster.id,
        peers,
        driver.report_unreachable,
        driver.report_snapshot,
        ssl_context=context,
        on_removed=on_removed,
    )
