"""A lease kept alive while a command holds something (etcd's concurrency.Session).

`lock` and `elect` own their key through a lease: granted at the start, renewed every
third of its TTL from a thread, revoked at the end (deleting whatever the command still
holds). `done` is set when the lease is gone (expired or revoked elsewhere) or the user
interrupts the command: the command waits on that one event.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from typing import TypeVar

from keyraft.ctl.client import GatewayClient
from keyraft.ctl.commands.lease import renew
from keyraft.ctl.errors import CtlError
from keyraft.ctl.threads import start_background

T = TypeVar("T")


class Session:
    def __init__(self, client: GatewayClient, ttl: int) -> None:
        self.client = client
        self.ttl = ttl
        self.lease = int(client.call("/v3/lease/grant", {"TTL": ttl})["ID"])
        self.done = threading.Event()
        self.expired = False
        self._closed = threading.Event()
        self._thread = start_background(self._keep_alive)

    def _keep_alive(self) -> None:
        while not self._closed.wait(max(self.ttl / 3.0, 0.5)):
            try:
                answer = renew(self.client, self.lease)
            except Exception:  # noqa: BLE001 - a failed round must not end the renewals
                continue  # (an endpoint failed: the next round tries another)
            if int(answer.get("TTL", 0) or 0) <= 0:
                self.expired = True
                self.done.set()
                return

    def until_interrupted(self) -> None:
        """Wait for Ctrl-C (or SIGTERM), or for the lease to go."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.done.set())
        while not self.done.wait(1.0):
            pass

    def close(self) -> None:
        """Stop renewing, and revoke the lease (its keys go with it)."""
        self._closed.set()
        with contextlib.suppress(CtlError):
            self.client.call("/v3/lease/revoke", {"ID": self.lease})


def wait_canceling_on_interrupt(call: Callable[[], T]) -> T:
    """`call()` (a lock or campaign request, answered when the caller's turn comes), ended
    by Ctrl-C: as etcdctl, the command then fails with "context canceled" (the session's
    revoke takes the caller's key out of the queue). The request runs on a background
    thread while the main thread waits in short steps: interrupting a blocked HTTP read
    could leave the client stuck unwinding, and the command never ended (seen in CI)."""
    outcome: list = []
    finished = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as problem:  # noqa: BLE001 - handed to the main thread
            outcome.append((False, problem))
        finished.set()

    start_background(run)
    try:
        while not finished.wait(0.2):
            pass
    except KeyboardInterrupt:
        raise CtlError("context canceled") from None
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value
