"""Reading etcd-style watch streams in tests: one JSON message per line."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from tests.support.compare import normalize


class WatchLines:
    """A watch stream read in a background thread, so a test can act while it watches.
    Closing the socket ends the reader at once."""

    def __init__(self, url: str, body: bytes | dict, headers: dict[str, str] | None = None) -> None:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        parts = urlsplit(url)
        self.lines: list[dict] = []
        self.status = 0
        self._socket = socket.create_connection((parts.hostname, parts.port), timeout=10)
        self._socket.sendall(
            b"POST /v3/watch HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
            b"%sContent-Length: %d\r\n\r\n%s"
            % (parts.netloc.encode(), extra.encode(), len(content), content)
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        stream = self._socket.makefile("rb")
        try:
            status_line = stream.readline()
            self.status = int(status_line.split()[1])
            chunked = False
            length = None
            while (header := stream.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode().partition(":")
                if name.lower() == "transfer-encoding" and "chunked" in value:
                    chunked = True
                if name.lower() == "content-length":
                    length = int(value)
            if not chunked:
                body = stream.read(length or 0)
                self.lines.append(normalize(json.loads(body)))
                return
            buffer = b""
            while True:
                size = int(stream.readline().strip() or b"0", 16)
                if size == 0:
                    return
                buffer += stream.read(size + 2)[:-2]
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        self.lines.append(normalize(json.loads(line)))
        except (OSError, ValueError, IndexError):
            pass

    def wait(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.lines[:count]

    def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> list[dict]:
        """All lines, once none arrived for `quiet` seconds."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.lines), time.monotonic()
        while time.monotonic() < deadline:
            if len(self.lines) != seen:
                seen, since = len(self.lines), time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.01)
        return list(self.lines)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(5)


async def open_watch(
    host: str, port: int, body: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw HTTP/1.1 watch request (cheap enough to hold a thousand at once)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v3/watch HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body)
    )
    await writer.drain()
    while (await reader.readline()) not in (b"\r\n", b""):
        pass  # status line and headers
    return reader, writer


async def read_messages(reader: asyncio.StreamReader, on_message: Callable[[dict], bool]) -> None:
    """Feed each chunked-encoded JSON line to `on_message` until it returns False."""
    buffer = b""
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.strip() or b"0", 16)
        chunk = await reader.readexactly(size + 2)
        buffer += chunk[:-2]
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip() and not on_message(json.loads(line)):
                return
