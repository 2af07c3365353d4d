"""Authentication and access control compared with real etcd 3.4, request by request.

One scripted sequence runs against one etcd and one keyraft (both with bcrypt cost 4, so
hashing costs no time): root user and role, enable, users and roles, grants on a key and
a prefix, a permission matrix for a read-only, a write-only and a read-write user, bad
and missing tokens, a password change, a deleted user, a revoked role, disable. Every
answer must be equal once tokens (random) and member identities are set aside.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.compare import Answer, b64
from tests.support.servers import Member, etcd_available, etcd_member, keyraft_member
from tests.support.watch_client import WatchLines

LOW_COST = ("--bcrypt-cost", "4")
TOKEN = "<token>"
NO_TOKEN = object()


class AuthPair:
    """etcd and keyraft fed the same requests, each as the same user with its own token."""

    def __init__(self, etcd: Member, keyraft: Member) -> None:
        self.members = (etcd, keyraft)
        self.client = httpx.Client(timeout=20.0)
        self.tokens: dict[tuple[str, str], str] = {}

    def headers(self, member: Member, user: object) -> dict[str, str]:
        if user is NO_TOKEN or user is None:
            return {}
        token = self.tokens.get((member.kind, user), user)  # an unknown user: a raw token
        return {"Authorization": str(token)}

    def answers(self, path: str, body: object, user: object) -> list[Answer]:
        found = []
        for member in self.members:
            response = self.client.post(
                member.client_url + path,
                content=body if isinstance(body, bytes) else json.dumps(body).encode(),
                headers=self.headers(member, user),
            )
            found.append(Answer.of(response))
        return found

    def compare(self, path: str, body: object, user: object) -> tuple[Answer, list[str]]:
        """Assert both answer alike (status and body, tokens aside); return etcd's answer
        and the tokens each gave, if any."""
        expected, actual = self.answers(path, body or {}, user)
        tokens = []
        for answer in (expected, actual):
            if isinstance(answer.body, dict) and "token" in answer.body:
                tokens.append(answer.body["token"])
                answer.body["token"] = TOKEN
        assert (actual.status, actual.body) == (expected.status, expected.body), (
            f"{path} {body!r} as {user}:\n etcd:    {expected}\n keyraft: {actual}"
        )
        return expected, tokens

    def same(self, path: str, body: object = None, user: object = NO_TOKEN) -> Answer:
        return self.compare(path, body, user)[0]

    def login(self, user: str, password: str) -> None:
        answer, tokens = self.compare(
            "/v3/auth/authenticate", {"name": user, "password": password}, NO_TOKEN
        )
        assert answer.status == 200
        for member, token in zip(self.members, tokens, strict=True):
            self.tokens[member.kind, user] = token

    def status_only(self, path: str, user: object, body: object = None) -> int:
        """For answers whose bodies differ by nature (member list, status): the status,
        and the error body when refused."""
        expected, actual = self.answers(path, body or {}, user)
        assert actual.status == expected.status, f"{path} as {user}: {expected} / {actual}"
        if expected.status != 200:
            assert actual.body == expected.body
        return expected.status

    def watch_first(self, key: str, user: object, range_end: str | None = None) -> None:
        create: dict = {"key": b64(key)}
        if range_end is not None:
            create["range_end"] = b64(range_end)
        firsts = []
        for member in self.members:
            stream = WatchLines(
                member.client_url, {"create_request": create}, self.headers(member, user)
            )
            try:
                firsts.append((stream.wait(1), stream.status))
            finally:
                stream.close()
        assert firsts[1] == firsts[0], f"watch {key} as {user}"
        assert firsts[0][0], "no watch answer"

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="module")
def auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthPair]:
    if not etcd_available():
        pytest.fail("real etcd is required for compatibility tests: run `make test-deps`")
    workdir: Path = tmp_path_factory.mktemp("auth")
    etcd = etcd_member(workdir, extra=LOW_COST)
    keyraft = keyraft_member(workdir, extra=LOW_COST)
    try:
        etcd.start()
        keyraft.start()
        pair = AuthPair(etcd, keyraft)
        yield pair
        pair.close()
    finally:
        etcd.stop()
        keyraft.stop()


def grant(auth: AuthPair, role: str, perm: str, key: str, end: str | None = None) -> None:
    permission = {"permType": perm, "key": b64(key)}
    if end is not None:
        permission["range_end"] = b64(end)
    assert auth.same("/v3/auth/role/grant", {"name": role, "perm": permission}).status == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v3/auth/user/add", b'{"name": 5, "password": "x"}'),
        ("/v3/auth/user/add", b'{"name": "a", "password": "x", "options": "x"}'),
        ("/v3/auth/user/add", b'{"name": "a", "password": ["x"]}'),
        ("/v3/auth/role/grant", b'{"name": "r", "perm": {"permType": "BAD", "key": "YQ=="}}'),
        ("/v3/auth/role/grant", b'{"name": "r", "perm": {"key": "!!"}}'),
        ("/v3/auth/role/add", b'{"name": "r"'),
        ("/v3/auth/authenticate", b'{"name": "a", "password": 1}'),
        ("/v3/auth/user/get", b'{"name": "nosuch"}'),
        ("/v3/auth/user/changepw", b'{"name": "nosuch", "password": "x"}'),
        ("/v3/auth/user/revoke", b'{"name": "nosuch", "role": "x"}'),
        ("/v3/auth/role/revoke", b'{"role": "nosuch", "key": "YQ=="}'),
        ("/v3/auth/role/delete", b'{"role": "nosuch"}'),
    ],
)
def test_bad_input_is_refused_as_etcd_does(auth: AuthPair, path: str, body: bytes) -> None:
    assert auth.same(path, body).status != 200
    assert auth.same("/v3/auth/user/list").body.get("users") is None  # nothing changed


def test_setup_refusals_and_enable(auth: AuthPair) -> None:
    assert auth.same("/v3/auth/enable").status == 412  # root user does not exist
    auth.same("/v3/auth/authenticate", {"name": "root", "password": "x"})  # not enabled
    auth.same("/v3/auth/user/add", {"name": "root", "password": "rootpw"})
    auth.same("/v3/auth/user/add", {"name": "root", "password": "again"})  # exists
    auth.same("/v3/auth/user/add", {"name": "", "password": "x"})  # empty
    assert auth.same("/v3/auth/enable").status == 412  # root lacks the root role
    auth.same("/v3/auth/user/grant", {"user": "root", "role": "nosuch"})
    auth.same("/v3/auth/user/grant", {"user": "nosuch", "role": "root"})
    auth.same("/v3/auth/user/grant", {"user": "root", "role": "root"})  # root is implicit
    auth.same("/v3/auth/role/get", {"role": "root"})  # ... and not listed
    auth.same("/v3/auth/role/add", {"name": ""})
    for role in ("ro", "wo", "rw"):
        auth.same("/v3/auth/role/add", {"name": role})
    auth.same("/v3/auth/role/add", {"name": "ro"})  # exists
    grant(auth, "ro", "READ", "k")
    grant(auth, "ro", "READ", "p/", "p0")
    grant(auth, "wo", "WRITE", "k")
    grant(auth, "wo", "WRITE", "p/", "p0")
    grant(auth, "rw", "READWRITE", "k")
    grant(auth, "rw", "READ", "p/", "p0")
    grant(auth, "rw", "READWRITE", "p/", "p0")  # the same interval again: replaced
    grant(auth, "rw", "READWRITE", "z", "\0")  # every key from z on
    auth.same("/v3/auth/role/grant", {"name": "nosuch", "perm": {"key": b64("k")}})
    auth.same("/v3/auth/role/get", {"role": "rw"})
    for user in ("ro", "wo", "rw"):
        auth.same("/v3/auth/user/add", {"name": user, "password": user + "pw"})
        auth.same("/v3/auth/user/grant", {"user": user, "role": user})
    auth.same("/v3/auth/user/grant", {"user": "rw", "role": "rw"})  # again: OK, no change
    auth.same("/v3/auth/user/add", {"name": "nopw", "options": {"no_password": True}})
    auth.same("/v3/auth/user/add", {"name": "long", "password": "p" * 100})  # > bcrypt's 72
    auth.same("/v3/auth/user/list")
    auth.same("/v3/auth/role/list")
    auth.same("/v3/auth/user/get", {"name": "rw"})
    auth.same("/v3/kv/put", {"key": b64("k"), "value": b64("v0")})
    auth.same("/v3/lease/grant", {"ID": 7001, "TTL": 300})
    auth.same("/v3/kv/put", {"key": b64("p/leased"), "value": b64("l"), "lease": 7001})
    auth.same("/v3/lease/grant", {"ID": 7002, "TTL": 300})
    assert auth.same("/v3/auth/enable").status == 200


def test_tokens_and_admin(auth: AuthPair) -> None:
    auth.same("/v3/kv/range", {"key": b64("k")})  # no token: user name is empty
    auth.same("/v3/kv/range", {"key": b64("k")}, user="garbage")  # invalid auth token
    auth.same("/v3/auth/enable")  # again, without a token
    auth.same("/v3/auth/authenticate", {"name": "root", "password": "wrong"})
    auth.same("/v3/auth/authenticate", {"name": "nosuch", "password": "x"})
    auth.same("/v3/auth/authenticate", {"name": "nopw", "password": ""})  # 500 in etcd 3.4
    auth.same("/v3/auth/authenticate", {"name": "long", "password": "p" * 72})  # cut at 72
    auth.login("root", "rootpw")
    for user in ("ro", "wo", "rw"):
        auth.login(user, user + "pw")
    auth.same("/v3/auth/enable", user="root")
    auth.same("/v3/auth/user/list", user="root")
    auth.same("/v3/auth/user/list", user="ro")  # permission denied
    auth.same("/v3/auth/user/get", {"name": "ro"}, user="ro")  # itself: allowed
    auth.same("/v3/auth/user/get", {"name": "rw"}, user="ro")
    auth.same("/v3/auth/role/get", {"role": "ro"}, user="ro")  # its own role: allowed
    auth.same("/v3/auth/role/get", {"role": "rw"}, user="ro")
    auth.same("/v3/auth/role/add", {"name": "x"}, user="rw")
    auth.same("/v3/auth/user/changepw", {"name": "ro", "password": "x"}, user="ro")
    auth.same("/v3/auth/disable", user="wo")
    auth.same("/v3/auth/role/delete", {"role": "root"}, user="root")  # invalid management
    auth.same("/v3/auth/user/delete", {"name": "root"}, user="root")
    auth.same("/v3/auth/user/revoke", {"name": "root", "role": "root"}, user="root")


def test_lease_revoke_needs_write_on_its_keys(auth: AuthPair) -> None:
    auth.same("/v3/lease/revoke", {"ID": 7001})  # no token: user name is empty
    auth.same("/v3/lease/revoke", {"ID": 7001}, user="ro")  # permission denied
    assert auth.same("/v3/kv/range", {"key": b64("p/leased")}, user="root").body.get("kvs")
    auth.same("/v3/lease/revoke", {"ID": 7001}, user="wo")
    auth.same("/v3/kv/range", {"key": b64("p/leased")}, user="root")


# (path, body) of each operation of the matrix
MATRIX = [
    ("/v3/kv/range", {"key": b64("k")}),
    ("/v3/kv/range", {"key": b64("p/"), "range_end": b64("p0")}),
    ("/v3/kv/range", {"key": b64("p/"), "range_end": b64("p1")}),  # wider than granted
    ("/v3/kv/range", {"key": b64("z"), "range_end": "AA=="}),
    ("/v3/kv/put", {"key": b64("k"), "value": b64("v")}),
    ("/v3/kv/put", {"key": b64("p/a"), "value": b64("v")}),
    ("/v3/kv/put", {"key": b64("k"), "value": b64("v"), "prev_kv": True}),
    ("/v3/kv/put", {"key": b64("other"), "value": b64("v")}),
    ("/v3/kv/put", {"key": b64("p/b"), "value": b64("v"), "lease": 7002}),
    ("/v3/kv/deleterange", {"key": b64("p/a")}),
    ("/v3/kv/deleterange", {"key": b64("p/"), "range_end": b64("p0"), "prev_kv": True}),
    (
        "/v3/kv/txn",
        {
            "compare": [{"key": b64("k"), "target": "VERSION", "result": "GREATER"}],
            "success": [{"request_put": {"key": b64("p/t"), "value": b64("1")}}],
        },
    ),
    (
        "/v3/kv/txn",
        {
            "success": [{"request_range": {"key": b64("k")}}],
            "failure": [{"request_put": {"key": b64("other"), "value": b64("1")}}],
        },
    ),
    ("/v3/kv/txn", {"success": [{"request_range": {"key": b64("p/"), "range_end": b64("p0")}}]}),
    ("/v3/kv/txn", {}),
    ("/v3/kv/compaction", {"revision": 2}),
    ("/v3/lease/grant", {"ID": 7100, "TTL": 300}),
]


@pytest.mark.parametrize("user", ["ro", "wo", "rw", "root"])
def test_permission_matrix(auth: AuthPair, user: str) -> None:
    for path, body in MATRIX:
        auth.same(path, body, user=user)
        if path == "/v3/lease/grant":  # the same ID next time
            auth.same("/v3/lease/revoke", {"ID": 7100}, user="root")
    auth.watch_first("k", user)
    auth.watch_first("p/", user, range_end="p0")
    auth.watch_first("other", user)
    for path in ("/v3/cluster/member/list", "/v3/maintenance/status"):
        assert auth.status_only(path, user) == 200
    auth.same("/v3/lease/leases", user=user)


def test_changes_take_effect(auth: AuthPair) -> None:
    auth.same("/v3/auth/user/changepw", {"name": "rw", "password": "new"}, user="root")
    auth.same("/v3/kv/range", {"key": b64("k")}, user="rw")  # its old token is gone
    auth.same("/v3/auth/authenticate", {"name": "rw", "password": "rwpw"})
    auth.login("rw", "new")
    auth.same("/v3/kv/put", {"key": b64("k"), "value": b64("new")}, user="rw")
    auth.same("/v3/auth/role/revoke", {"role": "rw", "key": b64("k")}, user="root")
    auth.same("/v3/auth/role/revoke", {"role": "rw", "key": b64("k")}, user="root")  # again
    auth.same("/v3/auth/role/revoke", {"role": "rw", "key": b64("p/")}, user="root")  # no end
    auth.same("/v3/kv/put", {"key": b64("k"), "value": b64("v")}, user="rw")
    auth.same("/v3/auth/user/revoke", {"name": "wo", "role": "wo"}, user="root")
    auth.same("/v3/auth/user/revoke", {"name": "wo", "role": "wo"}, user="root")
    auth.same("/v3/kv/put", {"key": b64("k"), "value": b64("v")}, user="wo")
    auth.same("/v3/auth/role/delete", {"role": "ro"}, user="root")
    auth.same("/v3/auth/user/get", {"name": "ro"}, user="root")  # the role is gone from it
    auth.same("/v3/kv/range", {"key": b64("k")}, user="ro")
    auth.same("/v3/auth/user/delete", {"name": "ro"}, user="root")
    auth.same("/v3/auth/user/delete", {"name": "ro"}, user="root")
    auth.same("/v3/kv/range", {"key": b64("k")}, user="ro")  # a deleted user's token
    auth.same("/v3/auth/role/list", user="root")
    auth.same("/v3/auth/user/list", user="root")
    auth.same("/v3/auth/disable", user="root")
    auth.same("/v3/auth/disable")
    auth.same("/v3/kv/range", {"key": b64("k")})
    auth.same("/v3/auth/user/list")
