"""v3lock and v3election answers compared with real etcd 3.4 (one etcd and one keyraft
for the module, both getting identical requests; leases are granted with explicit IDs so
the ownership keys, named after them, match). A request that waits is sent to both
servers at once, each from its own thread; a test makes sure it is queued (its key
exists) before it releases the lock ahead of it."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.compare import Answer, Pair, b64, normalize
from tests.support.servers import etcd_available, etcd_member, keyraft_member

BASE_ID = 0x4C00


@pytest.fixture(scope="module")
def lock_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if not etcd_available():
        pytest.fail("real etcd is required for compatibility tests: run `make test-deps`")
    workdir: Path = tmp_path_factory.mktemp("lock")
    etcd, keyraft = etcd_member(workdir), keyraft_member(workdir)
    try:
        etcd.start()
        keyraft.start()
        pair = Pair(etcd, keyraft)
        yield pair
        pair.close()
    finally:
        etcd.stop()
        keyraft.stop()


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


def grant(pair: Pair, lease: int) -> None:
    pair.same("/v3/lease/grant", {"ID": lease, "TTL": 60})


def both_later(
    pair: Pair, pool: ThreadPoolExecutor, path: str, body: dict
) -> tuple[Future, Future]:
    """Send a request that waits to both servers; its answers come later."""

    def call(member) -> Answer:
        with httpx.Client(timeout=20.0) as client:
            return Answer.of(client.post(member.client_url + path, json=body))

    return pool.submit(call, pair.etcd), pool.submit(call, pair.keyraft)


def same_later(futures: tuple[Future, Future]) -> object:
    expected, actual = (future.result(timeout=20) for future in futures)
    assert (expected.status, expected.body) == (actual.status, actual.body)
    return expected.body


def wait_for_key(pair: Pair, key: bytes, present: bool = True) -> None:
    """Poll both servers until `key` exists (or is gone)."""
    deadline = time.monotonic() + 10
    for member in (pair.etcd, pair.keyraft):
        while True:
            kvs = pair.send(member, "/v3/kv/range", {"key": b64(key)}).json().get("kvs")
            if bool(kvs) == present:
                break
            assert time.monotonic() < deadline, f"{key!r} present={present} on {member.kind}"
            time.sleep(0.02)


def lock_key(name: str, lease: int) -> bytes:
    return f"{name}/{lease:x}".encode()


def scan(pair: Pair, prefix: str) -> object:
    return pair.same("/v3/kv/range", {"key": b64(prefix + "/"), "range_end": b64(prefix + "0")})


def test_lock_unlock_and_errors(lock_pair: Pair) -> None:
    pair, lease = lock_pair, BASE_ID + 1
    grant(pair, lease)
    answer = pair.same("/v3/lock/lock", {"name": b64("lk"), "lease": lease})
    assert answer["key"] == b64(lock_key("lk", lease))
    pair.same("/v3/lock/lock", {"name": b64("lk"), "lease": str(lease)})  # held already
    scan(pair, "lk")
    pair.same("/v3/lock/unlock", {"key": answer["key"]})
    pair.same("/v3/lock/unlock", {"key": answer["key"]})  # gone already: still fine
    pair.same("/v3/lock/unlock", {})  # 500 "etcdserver: key is not provided"
    pair.same("/v3/lock/lock", {"name": b64("lk"), "lease": BASE_ID + 999})  # unknown lease
    pair.same("/v3/lock/lock", {"name": 5})  # 400: not base64
    pair.same("/v3/lock/lock", b"xx")
    pair.same("/v3/lease/revoke", {"ID": lease})


def test_lock_without_lease_gets_a_60s_session_lease(lock_pair: Pair) -> None:
    answers = lock_pair.both("/v3/lock/lock", {"name": b64("nolease")})
    for answer in answers:
        assert answer.status == 200
        key = answer.body.pop("key")
        owner = lock_pair.send(
            lock_pair.etcd if answer is answers[0] else lock_pair.keyraft,
            "/v3/kv/range",
            {"key": key},
        ).json()["kvs"][0]
        ttl = lock_pair.send(
            lock_pair.etcd if answer is answers[0] else lock_pair.keyraft,
            "/v3/lease/timetolive",
            {"ID": owner["lease"]},
        ).json()
        assert ttl["grantedTTL"] == "60"
        assert owner["key"] == b64(f"nolease/{int(owner['lease']):x}")
        lock_pair.send(
            lock_pair.etcd if answer is answers[0] else lock_pair.keyraft,
            "/v3/lease/revoke",
            {"ID": owner["lease"]},
        )
    assert answers[0].body == answers[1].body


@pytest.mark.parametrize("release", ["unlock", "revoke"])
def test_contended_lock(lock_pair: Pair, pool: ThreadPoolExecutor, release: str) -> None:
    pair = lock_pair
    first, second = (
        BASE_ID + 10 + (release == "revoke") * 2,
        BASE_ID + 11 + (release == "revoke") * 2,
    )
    name = f"c-{release}"
    for lease in (first, second):
        grant(pair, lease)
    held = pair.same("/v3/lock/lock", {"name": b64(name), "lease": first})
    waiting = both_later(pair, pool, "/v3/lock/lock", {"name": b64(name), "lease": second})
    wait_for_key(pair, lock_key(name, second))
    assert not any(future.done() for future in waiting)
    scan(pair, name)
    if release == "unlock":
        pair.same("/v3/lock/unlock", {"key": held["key"]})
    else:
        pair.same("/v3/lease/revoke", {"ID": first})
    assert same_later(waiting)["key"] == b64(lock_key(name, second))
    pair.same("/v3/lease/revoke", {"ID": second})
    if release == "unlock":
        pair.same("/v3/lease/revoke", {"ID": first})


def test_waiter_whose_lease_ends_is_still_answered(
    lock_pair: Pair, pool: ThreadPoolExecutor
) -> None:
    """etcd 3.4.23 answers a waiter whose own key went with its lease once the keys ahead
    go (3.5 fails it): why a holder must fence on its key's create revision."""
    pair, first, second = lock_pair, BASE_ID + 25, BASE_ID + 26
    for lease in (first, second):
        grant(pair, lease)
    held = pair.same("/v3/lock/lock", {"name": b64("lost"), "lease": first})
    waiting = both_later(pair, pool, "/v3/lock/lock", {"name": b64("lost"), "lease": second})
    wait_for_key(pair, lock_key("lost", second))
    pair.same("/v3/lease/revoke", {"ID": second})
    pair.same("/v3/lock/unlock", {"key": held["key"]})
    assert same_later(waiting)["key"] == b64(lock_key("lost", second))
    scan(pair, "lost")  # ... though its key is gone
    pair.same("/v3/lease/revoke", {"ID": first})


def test_waiter_that_goes_away_leaves_nothing(lock_pair: Pair, pool: ThreadPoolExecutor) -> None:
    pair, first, second = lock_pair, BASE_ID + 20, BASE_ID + 21
    for lease in (first, second):
        grant(pair, lease)
    held = pair.same("/v3/lock/lock", {"name": b64("gone"), "lease": first})
    body = json.dumps({"name": b64("gone"), "lease": second}).encode()
    for member in (pair.etcd, pair.keyraft):
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(member.client_url + "/v3/lock/lock", content=body, timeout=0.5)
    wait_for_key(pair, lock_key("gone", second), present=False)
    scan(pair, "gone")
    pair.same("/v3/lock/unlock", {"key": held["key"]})
    for lease in (first, second):
        pair.same("/v3/lease/revoke", {"ID": lease})


def leader_key(answer: dict) -> dict:
    return answer["leader"]


def test_election(lock_pair: Pair, pool: ThreadPoolExecutor) -> None:
    pair, first, second = lock_pair, BASE_ID + 30, BASE_ID + 31
    name = b64("el")
    for lease in (first, second):
        grant(pair, lease)
    pair.same("/v3/election/leader", {"name": name})  # 500 "election: no leader"
    won = pair.same("/v3/election/campaign", {"name": name, "lease": first, "value": b64("a")})
    leader = leader_key(won)
    pair.same("/v3/election/campaign", {"name": name, "lease": first, "value": b64("a2")})
    pair.same("/v3/election/leader", {"name": name})
    pair.same("/v3/election/proclaim", {"leader": leader, "value": b64("a3")})
    pair.same("/v3/election/proclaim", {"leader": {**leader, "rev": "1"}, "value": b64("x")})
    pair.same("/v3/election/proclaim", {"value": b64("x")})  # no leader field
    pair.same("/v3/election/resign", {})
    pair.same("/v3/election/resign", {"leader": {**leader, "rev": "1"}})  # not the leader
    pair.same("/v3/election/campaign", {"name": name, "lease": BASE_ID + 999})

    with observing(pair, name) as lines:
        assert lines() == pair.same("/v3/election/leader", {"name": name})
        contender = both_later(
            pair, pool, "/v3/election/campaign", {"name": name, "lease": second, "value": b64("b")}
        )
        wait_for_key(pair, lock_key("el", second))
        assert not any(future.done() for future in contender)
        pair.same("/v3/election/proclaim", {"leader": leader, "value": b64("a4")})
        assert lines()["kv"]["value"] == b64("a4")
        pair.same("/v3/election/resign", {"leader": leader})
        assert leader_key(same_later(contender))["key"] == b64(lock_key("el", second))
        assert lines()["kv"]["value"] == b64("b")
    pair.same("/v3/election/leader", {"name": name})
    for lease in (first, second):
        pair.same("/v3/lease/revoke", {"ID": lease})
    pair.same("/v3/election/leader", {"name": name})


class observing:
    """An observe stream open on both servers, each read by its own thread (etcd sends
    the headers with the first message); calling it returns the next line of each once
    both agree. Leaving closes the streams."""

    def __init__(self, pair: Pair, name: str) -> None:
        self.pair = pair
        self.name = name
        self.queues: list[queue.Queue] = [queue.Queue(), queue.Queue()]
        self.clients = [httpx.Client(timeout=httpx.Timeout(20.0, read=None)) for _ in range(2)]
        self.threads: list[threading.Thread] = []
        self.sockets: list[socket.socket] = []

    def _read(self, client: httpx.Client, url: str, lines: queue.Queue) -> None:
        try:
            with client.stream("POST", url, json={"name": self.name}) as response:
                stream = response.extensions["network_stream"]
                self.sockets.append(stream.get_extra_info("socket"))
                lines.put((response.status_code, response.headers["content-type"]))
                for line in response.iter_lines():
                    lines.put(line)
        except (httpx.HTTPError, OSError):
            pass  # closed by __exit__

    def __enter__(self):
        members = (self.pair.etcd, self.pair.keyraft)
        for client, member, lines in zip(self.clients, members, self.queues, strict=True):
            url = member.client_url + "/v3/election/observe"
            thread = threading.Thread(target=self._read, args=(client, url, lines), daemon=True)
            thread.start()
            self.threads.append(thread)
        self.started = False
        return self.next_line

    def next_line(self) -> object:
        if not self.started:
            starts = [lines.get(timeout=20) for lines in self.queues]
            assert starts == [(200, "application/json")] * 2
            self.started = True
        expected, actual = (normalize(json.loads(lines.get(timeout=20))) for lines in self.queues)
        assert expected == actual
        return expected["result"]

    def __exit__(self, *exc_info: object) -> None:
        for connection in self.sockets:  # wakes the reading threads: their streams end
            connection.shutdown(socket.SHUT_RDWR)
        for thread in self.threads:
            thread.join(10)
        for client in self.clients:
            client.close()


def test_observe_waits_for_a_first_leader(lock_pair: Pair) -> None:
    pair, lease, name = lock_pair, BASE_ID + 40, b64("later")
    grant(pair, lease)
    with observing(pair, name) as lines:
        pair.same("/v3/election/campaign", {"name": name, "lease": lease, "value": b64("v")})
        assert lines()["kv"]["lease"] == str(lease)
    pair.same("/v3/lease/revoke", {"ID": lease})


def test_auth_is_enforced_as_etcd_does(lock_pair: Pair) -> None:
    """Lock and election act with the caller's credentials: read and write on the
    prefix; every refusal is gRPC code Unknown (500), and observe just stops."""
    pair = lock_pair
    for path, body in (
        ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
        ("/v3/auth/role/add", {"name": "root"}),
        ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
        ("/v3/auth/user/add", {"name": "alice", "password": "pw"}),
        ("/v3/auth/role/add", {"name": "locker"}),
        ("/v3/auth/user/grant", {"user": "alice", "role": "locker"}),
    ):
        pair.same(path, body)
    for kind, prefix in (("READWRITE", "ok/"), ("READ", "ro/")):
        perm = {"permType": kind, "key": b64(prefix), "range_end": b64(prefix[:-1] + "0")}
        pair.same("/v3/auth/role/grant", {"name": "locker", "perm": perm})
    pair.same("/v3/auth/enable", {})

    def token(member, user: str, password: str) -> str:
        body = {"name": user, "password": password}
        return pair.send(member, "/v3/auth/authenticate", body).json()["token"]

    members = (pair.etcd, pair.keyraft)
    roots = [token(member, "root", "rootpw") for member in members]
    alices = [token(member, "alice", "pw") for member in members]

    def same_as(tokens: list[str | None], path: str, body: dict) -> Answer:
        answers = []
        for member, token_ in zip(members, tokens, strict=True):
            headers = {"Authorization": token_} if token_ else {}
            url = member.client_url + path
            answers.append(Answer.of(pair.client.post(url, json=body, headers=headers)))
        assert (answers[0].status, answers[0].body) == (answers[1].status, answers[1].body), path
        return answers[0]

    try:
        lease = BASE_ID + 50
        same_as(roots, "/v3/lease/grant", {"ID": lease, "TTL": 60})
        assert same_as(alices, "/v3/lock/lock", {"name": b64("ok"), "lease": lease}).status == 200
        for path, body in (
            ("/v3/lock/lock", {"name": b64("no"), "lease": lease}),
            ("/v3/lock/lock", {"name": b64("ro"), "lease": lease}),
            ("/v3/election/leader", {"name": b64("no")}),
            ("/v3/election/campaign", {"name": b64("ro"), "lease": lease}),
            ("/v3/lock/unlock", {"key": b64("no/1")}),
        ):
            refused = same_as(alices, path, body)
            assert refused.body["message"] == "etcdserver: permission denied"
        same_as([None, None], "/v3/lock/lock", {"name": b64("ok"), "lease": lease})
        same_as(["bad", "bad"], "/v3/lock/lock", {"name": b64("ok"), "lease": lease})
        for member, alice in zip(members, alices, strict=True):
            observed = pair.client.post(
                member.client_url + "/v3/election/observe",
                json={"name": b64("no")},
                headers={"Authorization": alice},
            )
            assert (observed.status_code, observed.content) == (200, b"")
        same_as(roots, "/v3/lease/revoke", {"ID": lease})
    finally:
        same_as(roots, "/v3/auth/disable", {})


def sse_events(response: httpx.Response) -> Iterator[tuple[str, dict]]:
    """(id, data) of each server-sent event carrying data."""
    event_id = ""
    for line in response.iter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            yield event_id, json.loads(line[5:])


@pytest.mark.parametrize("query", ["name=sse", f"name_b64={b64('sse')}"])
def test_observe_as_server_sent_events(lock_pair: Pair, query: str) -> None:
    keyraft, lease = lock_pair.keyraft, BASE_ID + 60 + len(query)
    post = lock_pair.send
    post(keyraft, "/v3/lease/grant", {"ID": lease, "TTL": 60})
    won = post(keyraft, "/v3/election/campaign", {"name": b64("sse"), "lease": lease}).json()
    url = f"{keyraft.client_url}/v3/election/observe/sse?{query}"
    with httpx.Client(timeout=10) as client, client.stream("GET", url) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        event_id, first = next(events)
        leader = post(keyraft, "/v3/election/leader", {"name": b64("sse")}).json()
        assert first == leader and event_id == leader["header"]["revision"]
        proclaim = {"leader": won["leader"], "value": b64("new")}
        proclaimed = post(keyraft, "/v3/election/proclaim", proclaim).json()
        event_id, second = next(events)
        assert second["kv"]["value"] == b64("new")
        assert event_id == proclaimed["header"]["revision"]
    post(keyraft, "/v3/lease/revoke", {"ID": lease})
