"""Where a pod learns the desired replicas: the API server (a local stand-in here), or not."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from keyraft.app.k8s import replicas

PATH = "/apis/apps/v1/namespaces/db/statefulsets/keyraft"


class FakeApiServer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        allowed = self.headers.get("Authorization") == "Bearer sa-token"
        status, body = (
            (200, {"spec": {"replicas": 5}}) if self.path == PATH and allowed else (404, {})
        )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    ca = trustme.CA()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApiServer)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    (tmp_path / "token").write_text("sa-token\n")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.crt"))
    monkeypatch.setattr(replicas, "SERVICE_ACCOUNT", tmp_path)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(server.server_port),
        }
    finally:
        server.shutdown()
        server.server_close()


def test_the_api_server_says_the_desired_replicas(api_env: dict[str, str]) -> None:
    assert replicas.replicas_source("auto", "keyraft", "db", api_env)() == 5
    assert replicas.replicas_source("api", "gone", "db", api_env)() is None  # 404: deleted


def test_other_sources_and_unknown() -> None:
    assert replicas.replicas_source("auto", "keyraft", "db", {})() is None  # not in a cluster
    assert replicas.replicas_source("none", "keyraft", "db", {})() is None
    assert replicas.replicas_source("4", "keyraft", "db", {})() == 4
    assert replicas.replicas_source("file:/nonexistent", "keyraft", "db", {})() is None
    with pytest.raises(ValueError):
        replicas.replicas_source("guess", "keyraft", "db", {})
