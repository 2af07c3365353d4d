"""A fault-injecting TCP proxy in front of every member's peer port.

Each member advertises a proxy port; the proxy forwards to the member's real listen port.
A peer connection names its sender in the first HTTP request (keyraft's
`x-keyraft-from`, etcd's `X-Server-From`), so the proxy knows both ends of every
connection and can cut chosen pairs: blocking a pair drops its open connections and
refuses new ones, in both directions. A connection whose sender is unknown (etcd's
probes) is refused whenever its destination is cut from anyone, erring toward a
partition that holds. Loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import Future

HEAD_TIMEOUT_S = 5.0


def sender_of(head: bytes) -> int | None:
    """The member ID a peer request names as its sender, if any."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip()
        try:
            if name == b"x-keyraft-from":
                return int(value)
            if name == b"x-server-from":
                return int(value, 16)
        except ValueError:
            return None
    return None


class PeerProxy:
    """Proxies for a whole cluster, run on an event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.targets: dict[str, int] = {}
        self.names: dict[int, str] = {}
        self.blocked: set[frozenset[str]] = set()
        self.refused = 0
        self._servers: list[asyncio.base_events.Server] = []
        self._links: set[tuple[str | None, str, asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    # ---- control, from any thread ------------------------------------------------------------

    def _call(self, function: Callable[[], object]) -> object:
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(function())
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                future.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def listen(self, name: str, target_port: int) -> int:
        """Accept peer connections for member `name` on a fresh port; return the port."""
        self.targets[name] = target_port
        handler = self._handler(name)
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(handler, "127.0.0.1", 0), self.loop
        )
        server = future.result(timeout=10)
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    def identify(self, member_id: int, name: str) -> None:
        self._call(lambda: self.names.__setitem__(member_id, name))

    def partition(self, *groups: list[str]) -> None:
        """Cut every pair of members that are in different groups."""
        pairs = {
            frozenset((a, b))
            for index, group in enumerate(groups)
            for other in groups[index + 1 :]
            for a in group
            for b in other
        }
        self._call(lambda: self._block(pairs))

    def heal(self) -> None:
        self._call(self.blocked.clear)

    def close(self) -> None:
        async def shutdown() -> None:
            for server in self._servers:
                server.close()
            for *_, left, right in list(self._links):
                left.transport.abort()
                right.transport.abort()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    # ---- on the loop -------------------------------------------------------------------------

    def _block(self, pairs: set[frozenset[str]]) -> None:
        self.blocked |= pairs
        for link in list(self._links):
            source, destination, left, right = link
            if self._cut(source, destination):
                left.transport.abort()
                right.transport.abort()
                self._links.discard(link)

    def _cut(self, source: str | None, destination: str) -> bool:
        if source is None:
            return any(destination in pair for pair in self.blocked)
        return frozenset((source, destination)) in self.blocked

    def _handler(self, destination: str) -> Callable:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
                writer.transport.abort()
                return
            member_id = sender_of(head)
            source = self.names.get(member_id) if member_id is not None else None
            if self._cut(source, destination):
                self.refused += 1
                writer.transport.abort()
                return
            try:
                upstream_reader, upstream = await asyncio.open_connection(
                    "127.0.0.1", self.targets[destination]
                )
            except OSError:
                writer.transport.abort()
                return
            link = (source, destination, writer, upstream)
            self._links.add(link)
            upstream.write(head)
            await asyncio.gather(_pump(reader, upstream), _pump(upstream_reader, writer))
            self._links.discard(link)

        return handle


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(256 * 1024):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.transport.abort()
