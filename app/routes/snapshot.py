"""POST /v3/maintenance/snapshot: the member's backend as etcd's gateway streams it.

As measured on etcd 3.4.23: `{"result": {"remaining_bytes", "blob"}}` lines of 32 KiB of
the database each (`remaining_bytes`: what is left after this chunk, omitted at zero; no
header), then one last line whose blob is the SHA-256 of everything before. Our file ends
with that checksum already, so it is sent as it is. Root only while auth is enabled; a
refusal is a stream error (HTTP 500, gRPC code 2), as etcd answers it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os

from fastapi import APIRouter
from fastapi.responses import Response

from keyraft.app import errors
from keyraft.app.openapi_primitives import request_body
from keyraft.app.openapi_responses import stream_errors, stream_response
from keyraft.app.openapi_schemas import SECURITY
from keyraft.app.server.errors import ServerError
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.snapshot_file import SHA_BYTES
from keyraft.app.streams import LineWriter, Receive, Scope, Send, stream_route
from keyraft.app.tokens import token_of

router = APIRouter()

CHUNK_BYTES = 32 * 1024  # etcd's snapshotSendBufferSize


async def serve_snapshot(server: EtcdServer, scope: Scope, receive: Receive, send: Send) -> None:
    writer = LineWriter(send)
    path = None
    try:
        info = None
        if server.state.auth.enabled:
            info = server.auth.info(token_of(scope.get("headers", [])))
        path = await server.maintenance.snapshot(info)
        await _send_file(writer, path)
    except ServerError as error:
        await writer.stream_error(errors.from_server(error))
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                os.unlink(path)
    await writer.end()


async def _send_file(writer: LineWriter, path: str) -> None:
    data_bytes = os.path.getsize(path) - SHA_BYTES
    with open(path, "rb") as source:
        sent = 0
        while sent < data_bytes:
            chunk = await asyncio.to_thread(source.read, min(CHUNK_BYTES, data_bytes - sent))
            sent += len(chunk)
            result: dict = {}
            if data_bytes - sent:
                result["remaining_bytes"] = str(data_bytes - sent)
            result["blob"] = base64.b64encode(chunk).decode()
            await writer.result(result)
        checksum = source.read(SHA_BYTES)
    await writer.result({"blob": base64.b64encode(checksum).decode()})


stream_route(
    router,
    "/v3/maintenance/snapshot",
    serve_snapshot,
    name="snapshot",
    tags=["Maintenance"],
    operation_id="Snapshot",
    summary="Stream a point-in-time snapshot of this member's backend (root)",
    response_class=Response,
    openapi_extra={
        "requestBody": request_body("etcdserverpbSnapshotRequest", {}),
        "responses": {
            "200": stream_response(
                '`{"result": {"remaining_bytes", "blob"}}` lines of 32 KiB, then the SHA-256',
                "etcdserverpbSnapshotStreamResult",
            ),
            **stream_errors({401, 500, 503}),
        },
        "security": SECURITY,
    },
)
