"""Auth behaviour beyond etcd 3.4's answers, on one keyraft process with JWT tokens:
etcd 3.5's /v3/auth/status, `Bearer` tokens and `Grpc-Metadata-Token`, JWTs going stale
with the auth revision, nested transactions checked, and the SSE watch refused."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.compare import b64
from tests.support.servers import Member, keyraft_member


def write_keys(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = directory / "jwt.key", directory / "jwt.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


class Client:
    def __init__(self, member: Member) -> None:
        self.member = member
        self.url = member.client_url
        self.http = httpx.Client(timeout=20.0)

    def post(self, path: str, body: dict | None = None, **headers: str) -> httpx.Response:
        return self.http.post(self.url + path, json=body or {}, headers=headers)

    def ok(self, path: str, body: dict | None = None, **headers: str) -> dict:
        response = self.post(path, body, **headers)
        assert response.status_code == 200, response.text
        return response.json()

    def token(self, user: str, password: str) -> str:
        return self.ok("/v3/auth/authenticate", {"name": user, "password": password})["token"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    workdir = tmp_path_factory.mktemp("auth-jwt")
    private, public = write_keys(workdir)
    option = f"jwt,pub-key={public},priv-key={private},sign-method=ES256,ttl=10m"
    member = keyraft_member(workdir, extra=("--bcrypt-cost", "4", "--auth-token", option))
    try:
        member.start()
        found = Client(member)
        for path, body in (
            ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
            ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
            ("/v3/auth/role/add", {"name": "app"}),
            (
                "/v3/auth/role/grant",
                {
                    "name": "app",
                    "perm": {"permType": "READWRITE", "key": b64("a/"), "range_end": b64("a0")},
                },
            ),
            ("/v3/auth/user/add", {"name": "alice", "password": "alicepw"}),
            ("/v3/auth/user/grant", {"user": "alice", "role": "app"}),
            ("/v3/auth/enable", {}),
        ):
            found.ok(path, body)
        yield found
        found.http.close()
    finally:
        member.stop()


def test_status_reports_enabled_and_the_auth_revision(client: Client) -> None:
    status = client.ok("/v3/auth/status")
    assert status["enabled"] is True
    assert status["authRevision"] == "7"  # six changes after the initial revision 1


def test_jwt_carries_user_and_revision_and_goes_stale(client: Client) -> None:
    token = client.token("alice", "alicepw")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["username"] == "alice" and claims["revision"] == 7 and "exp" in claims
    put = {"key": b64("a/x"), "value": b64("1")}
    assert client.post("/v3/kv/put", put, Authorization=token).status_code == 200
    assert client.post("/v3/kv/put", put, Authorization=f"Bearer {token}").status_code == 200
    assert client.post("/v3/kv/put", put, **{"Grpc-Metadata-Token": token}).status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    refused = client.post("/v3/kv/put", put, Authorization=forged)
    assert (refused.status_code, refused.json()["message"]) == (
        401,
        "etcdserver: invalid auth token",
    )
    root = client.token("root", "rootpw")
    client.ok("/v3/auth/role/add", {"name": "other"}, Authorization=root)
    stale = client.post("/v3/kv/range", {"key": b64("a/x")}, Authorization=token)
    assert (stale.status_code, stale.json()) == (
        400,
        {
            "error": "etcdserver: revision of auth store is old",
            "message": "etcdserver: revision of auth store is old",
            "code": 3,
        },
    )
    fresh = client.token("alice", "alicepw")
    assert client.post("/v3/kv/range", {"key": b64("a/x")}, Authorization=fresh).status_code == 200


def test_nested_transactions_are_checked(client: Client) -> None:
    """etcd 3.4 lets an inner txn write anywhere (fixed in later etcd); keyraft does not."""
    token = client.token("alice", "alicepw")
    inner = {"request_txn": {"success": [{"request_put": {"key": b64("b"), "value": b64("1")}}]}}
    refused = client.post("/v3/kv/txn", {"success": [inner]}, Authorization=token)
    assert refused.status_code == 403
    root = client.token("root", "rootpw")
    assert "kvs" not in client.ok("/v3/kv/range", {"key": b64("b")}, Authorization=root)


def test_membership_changes_are_for_root(client: Client) -> None:
    """As etcd's checkMembershipOperationPermission; the member list needs no token."""
    add = {"peerURLs": ["http://127.0.0.1:1"], "isLearner": True}
    alice = client.token("alice", "alicepw")
    for headers, status, message in (
        ({}, 400, "etcdserver: user name is empty"),
        ({"Authorization": alice}, 403, "etcdserver: permission denied"),
    ):
        refused = client.post("/v3/cluster/member/add", add, **headers)
        assert (refused.status_code, refused.json()["message"]) == (status, message)
    root = client.token("root", "rootpw")
    added = client.ok("/v3/cluster/member/add", add, Authorization=root)["member"]["ID"]
    assert len(client.ok("/v3/cluster/member/list")["members"]) == 2
    client.ok("/v3/cluster/member/remove", {"ID": added}, Authorization=root)


def test_sse_watch_needs_read_permission(client: Client) -> None:
    token = client.token("alice", "alicepw")
    url = client.url + "/v3/watch/sse"
    refused = client.http.get(url, params={"key": "b"}, headers={"Authorization": token})
    assert refused.status_code == 403
    anonymous = client.http.get(url, params={"key": "a/x"})
    assert anonymous.json()["message"] == "etcdserver: user name is empty"
    with client.http.stream(
        "GET", url, params={"key": "a/x"}, headers={"Authorization": token}
    ) as allowed:
        assert allowed.status_code == 200


def test_websocket_watch_takes_the_token_a_browser_can_send(client: Client) -> None:
    """A browser cannot set Authorization on a WebSocket: the token comes as the
    subprotocol pair `Bearer, <token>` (the "Bearer" protocol accepted) or a cookie."""
    token = client.token("alice", "alicepw")
    url = client.url.replace("http", "ws", 1) + "/v3/watch"
    create = json.dumps({"create_request": {"key": b64("a/ws")}})

    async def first_frame(**options: object) -> tuple[dict, str | None]:
        async with websockets.connect(url, **options) as socket:  # type: ignore[arg-type]
            await socket.send(create)
            frame = json.loads(await asyncio.wait_for(socket.recv(), 5))
            return frame, socket.subprotocol

    anonymous, _ = asyncio.run(first_frame())
    assert anonymous["result"]["canceled"] is True  # etcd's answer to a refused create
    assert "user name is empty" in anonymous["result"]["cancel_reason"]
    created, protocol = asyncio.run(first_frame(subprotocols=["Bearer", token]))
    assert created["result"]["created"] is True and protocol == "Bearer"
    created, _ = asyncio.run(first_frame(additional_headers={"Cookie": f"token={token}"}))
    assert created["result"]["created"] is True


def test_maintenance_is_root_only_as_in_etcd(client: Client) -> None:
    """Measured on etcd 3.4.23: defragment and snapshot answer auth's own errors (code 2,
    HTTP 500) to anyone but root; alarm and status are open to all."""
    alice = client.token("alice", "alicepw")
    for headers, message in (
        ({}, "auth: user name is empty"),
        ({"Authorization": alice}, "auth: permission denied"),
    ):
        refused = client.post("/v3/maintenance/defragment", {}, **headers)
        assert (refused.status_code, refused.json()["code"]) == (500, 2)
        assert refused.json()["message"] == message
        stream = client.post("/v3/maintenance/snapshot", {}, **headers)
        assert stream.status_code == 500
        assert stream.json()["error"]["message"] == message
        assert client.post("/v3/maintenance/alarm", {}, **headers).status_code == 200
        assert client.post("/v3/maintenance/status", {}, **headers).status_code == 200
    root = client.token("root", "rootpw")
    assert client.ok("/v3/maintenance/defragment", {}, Authorization=root) == {}
    lines = client.post("/v3/maintenance/snapshot", {}, Authorization=root).text.splitlines()
    assert len(lines) >= 2 and all(line.startswith('{"result":') for line in lines)


def test_auth_survives_a_restart(client: Client) -> None:
    """Users, roles and the enabled flag are on disk; a JWT stays valid while the auth
    revision it carries is current."""
    token = client.token("alice", "alicepw")
    before = client.ok("/v3/auth/status")
    client.member.stop()
    client.member.start()
    assert client.ok("/v3/auth/status") == {
        **before,
        "header": client.ok("/v3/auth/status")["header"],
    }
    assert client.post("/v3/kv/range", {"key": b64("a/x")}, Authorization=token).status_code == 200
    denied = client.post("/v3/kv/range", {"key": b64("a/x")})
    assert denied.json()["message"] == "etcdserver: user name is empty"
