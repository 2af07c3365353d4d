"""A member asked to stop (SIGTERM, as Kubernetes and systemd ask) stops, whatever its
clients hold open: watches, SSE watches and lock waits end cleanly instead of holding the
process until it is killed."""

from __future__ import annotations

import base64
import concurrent.futures
import signal
import subprocess
from pathlib import Path

import httpx

from tests.cluster.conftest import wait_for
from tests.support.servers import keyraft_member


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _read_stream(url: str, method: str, body: dict | None = None) -> tuple[int, bytes]:
    """The whole answer of a streaming request; raises if the connection breaks off."""
    with (
        httpx.Client(timeout=30) as client,
        client.stream(method, url, json=body) as response,
    ):
        return response.status_code, b"".join(response.iter_bytes())


def test_sigterm_ends_open_streams_and_lock_waits_cleanly(tmp_path: Path) -> None:
    member = keyraft_member(tmp_path)
    member.start()
    url = member.client_url
    try:
        with (
            httpx.Client(timeout=10) as client,
            concurrent.futures.ThreadPoolExecutor(4) as pool,
        ):
            held = client.post(url + "/v3/lock/lock", json={"name": _b64("l")}).json()
            assert "key" in held
            watch = pool.submit(
                _read_stream, url + "/v3/watch", "POST", {"create_request": {"key": _b64("w")}}
            )
            sse = pool.submit(_read_stream, url + "/v3/watch/sse?key=w", "GET")
            waiter = pool.submit(
                lambda: httpx.post(url + "/v3/lock/lock", json={"name": _b64("l")}, timeout=30)
            )
            # Every one is being served: the watches say so; the waiter is queued behind
            # the holder (its key exists under the lock's prefix).
            prefix = {"key": _b64("l/"), "range_end": _b64("l0"), "count_only": True}
            wait_for(
                lambda: client.post(url + "/v3/kv/range", json=prefix).json().get("count") == "2",
                10,
                "the second lock request to queue",
            )
            wait_for(
                lambda: _watchers(client, url) >= 2,
                10,
                "both watches to be open",
            )

            process = member.process
            assert process is not None
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired as error:
                raise AssertionError("a member with open streams did not stop") from error

            status, body = watch.result(5)
            assert status == 200
            assert b'"created":true' in body  # the stream was open, then ended cleanly
            status, body = sse.result(5)
            first = body.partition(b"\r\n\r\n")[0]  # the first event: created
            assert (status, b"event: created" in first) == (200, True)
            answer = waiter.result(5)
            assert answer.json()["error"] == "etcdserver: server stopped"
    finally:
        member.stop()


def _watchers(client: httpx.Client, url: str) -> int:
    """etcd_mvcc_watcher_total: the watches the member is serving."""
    for line in client.get(url + "/metrics").text.splitlines():
        if line.startswith("etcd_mvcc_watcher_total "):
            return int(float(line.split()[1]))
    return 0
