"""The peer proxy cuts exactly the pairs it is told to, both ways, and heals."""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.chaos.proxy import PeerProxy, sender_of


def test_sender_is_read_from_keyraft_and_etcd_headers() -> None:
    assert sender_of(b"POST /raft/stream HTTP/1.1\r\nx-keyraft-from: 42\r\n\r\n") == 42
    assert sender_of(b"GET /raft/stream/msgapp/1 HTTP/1.1\r\nX-Server-From: ff\r\n\r\n") == 255
    assert sender_of(b"GET /raft/probing HTTP/1.1\r\nHost: x\r\n\r\n") is None


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


@pytest.fixture
def echo() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _exchange(port: int, sender: int, payload: bytes = b"ping") -> bytes:
    """Open a peer connection as `sender`, send a request head and a payload, read back."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        head = f"POST /raft/stream HTTP/1.1\r\nx-keyraft-from: {sender}\r\n\r\n".encode()
        connection.sendall(head + payload)
        wanted = len(head) + len(payload)
        received = b""
        try:
            while len(received) < wanted:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
        return received


def test_partition_refuses_cut_pairs_only_and_heal_restores(echo: int) -> None:
    proxy = PeerProxy()
    try:
        port_b = proxy.listen("b", echo)
        proxy.identify(1, "a")
        proxy.identify(3, "c")
        assert _exchange(port_b, 1).endswith(b"ping")
        with socket.create_connection(("127.0.0.1", port_b), timeout=5) as open_link:
            open_link.sendall(b"POST /raft/stream HTTP/1.1\r\nx-keyraft-from: 1\r\n\r\nx")
            assert open_link.recv(65536)
            proxy.partition(["a"], ["b", "c"])
            # The open connection between a and b is dropped ...
            with pytest.raises(OSError):
                for _ in range(100):
                    open_link.sendall(b"more")
                    if not open_link.recv(65536):
                        raise ConnectionResetError
        # ... new ones are refused, while c still reaches b.
        assert _exchange(port_b, 1) == b""
        assert _exchange(port_b, 3).endswith(b"ping")
        proxy.heal()
        assert _exchange(port_b, 1).endswith(b"ping")
    finally:
        proxy.close()
