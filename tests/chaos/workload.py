"""Concurrent clients: gets, puts of unique values and CAS on a few hot keys.

Each client is sequential (one request in flight, as the checker assumes) and sends each
request to a random member of the current list (the cluster's membership may change). How an answer is recorded:
- 200: a determinate result;
- connection refused: the request reached no member, so it is left out of the history;
- anything else (timeout, reset, 503): a write is indeterminate, a read is left out
  (a read that returned nothing constrains nothing).
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass

import httpx

from tests.chaos.checker import CAS, GET, PUT, Operation
from tests.chaos.harness import Cluster, b64, unb64
from tests.chaos.history import History

WEIGHTS = {GET: 0.4, PUT: 0.3, CAS: 0.3}


@dataclass
class Answer:
    """What one request produced: a JSON body, or why there is none."""

    body: dict | None
    reached: bool


def send(client: httpx.Client, url: str, body: dict) -> Answer:
    try:
        response = client.post(url, json=body)
    except httpx.ConnectError:
        return Answer(None, reached=False)
    except httpx.HTTPError:
        return Answer(None, reached=True)
    if response.status_code != 200:
        return Answer(None, reached=True)
    try:
        return Answer(response.json(), reached=True)
    except ValueError:
        return Answer(None, reached=True)


def read_value(body: dict) -> str | None:
    kvs = body.get("kvs")
    return unb64(kvs[0].get("value", "")) if kvs else None


class Client:
    """One sequential client with its own RNG, connection pool and view of the keys."""

    def __init__(
        self,
        number: int,
        cluster: Cluster,
        history: History,
        keys: list[str],
        seed: int,
        serializable: bool,
        timeout: float,
    ) -> None:
        self.number = number
        self.cluster = cluster
        self.history = history
        self.keys = keys
        self.rng = random.Random(f"{seed}/client/{number}")
        self.serializable = serializable
        self.http = httpx.Client(timeout=timeout)
        self.last_seen: dict[str, str] = {}
        self.sequence = 0

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                key = self.rng.choice(self.keys)
                member = self.rng.choice(self.cluster.members)
                kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
                if kind == CAS and key not in self.last_seen:
                    kind = GET
                if kind == GET:
                    self.get(member.client_url, key)
                else:
                    self.write(member.client_url, key, kind)
        finally:
            self.http.close()

    def get(self, url: str, key: str) -> None:
        body = {"key": b64(key), "serializable": self.serializable}
        invoke = self.history.now()
        answer = send(self.http, url + "/v3/kv/range", body)
        complete = self.history.now()
        if answer.body is None:
            return
        value = read_value(answer.body)
        self.history.record(Operation(key, GET, invoke, complete, result=value, client=self.number))
        self._observe(answer.body, f"get {key}")
        if value is not None:
            self.last_seen[key] = value

    def write(self, url: str, key: str, kind: str) -> None:
        self.sequence += 1
        value = f"c{self.number}-{self.sequence}"
        put = {"request_put": {"key": b64(key), "value": b64(value)}}
        expected = self.last_seen.get(key) if kind == CAS else None
        if kind == PUT:
            path, body = "/v3/kv/put", put["request_put"]
        else:
            compare = {"key": b64(key), "target": "VALUE", "result": "EQUAL"}
            compare["value"] = b64(expected or "")
            path, body = "/v3/kv/txn", {"compare": [compare], "success": [put]}
        invoke = self.history.now()
        answer = send(self.http, url + path, body)
        complete = self.history.now()
        if not answer.reached:
            self.history.record_dropped()
            return
        if answer.body is None:
            self.history.record(
                Operation(
                    key,
                    kind,
                    invoke,
                    math.inf,
                    value=value,
                    expected=expected,
                    known=False,
                    client=self.number,
                )
            )
            return
        succeeded = True if kind == PUT else bool(answer.body.get("succeeded"))
        self.history.record(
            Operation(
                key,
                kind,
                invoke,
                complete,
                value=value,
                expected=expected,
                result=succeeded if kind == CAS else None,
                client=self.number,
            )
        )
        revision = self._observe(answer.body, f"{kind} {key}")
        if succeeded:
            self.last_seen[key] = value
            self.history.record_acknowledged(key, value, revision)

    def _observe(self, body: dict, what: str) -> int:
        revision = int(body.get("header", {}).get("revision", 0))
        self.history.record_revision(self.number, revision, what)
        return revision


def run_clients(
    cluster: Cluster,
    history: History,
    keys: list[str],
    count: int,
    seed: int,
    stop: threading.Event,
    serializable: bool = False,
    timeout: float = 2.0,
) -> list[threading.Thread]:
    """Start `count` client threads; they run until `stop` is set."""
    threads = []
    for number in range(count):
        client = Client(number, cluster, history, keys, seed, serializable, timeout)
        thread = threading.Thread(target=client.run, args=(stop,), name=f"client-{number}")
        thread.start()
        threads.append(thread)
    return threads
