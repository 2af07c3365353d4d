"""GET /health, /version and /metrics, as etcd serves them on the client port."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from keyraft.app.config import API_VERSION, ETCD_SERVER_VERSION
from keyraft.app.openapi_primitives import json_response, ref

TEXT = "text/plain; charset=utf-8"


def _health(description: str) -> dict:
    # etcd answers JSON with a text/plain content type; clients rely on the body only.
    return {"description": description, "content": {"text/plain": {"schema": ref("etcdHealth")}}}


router = APIRouter()


@router.get(
    "/health",
    tags=["Meta"],
    operation_id="Health",
    summary="Whether this member can serve (it has a leader)",
    response_class=Response,
    responses={
        200: _health('`{"health":"true"}` (as JSON text)'),
        503: _health('`{"health":"false"}`: no leader'),
    },
)
async def health(request: Request) -> Response:
    if request.app.state.server.has_leader():
        return Response(b'{"health":"true"}', media_type=TEXT)
    return Response(b'{"health":"false"}', status_code=503, media_type=TEXT)


@router.get(
    "/version",
    tags=["Meta"],
    operation_id="Version",
    summary="The etcd API version this member speaks",
    response_class=Response,
    responses={200: json_response("The versions", ref("etcdVersion"))},
)
async def version() -> Response:
    # As etcd 3.4.23: the server's own version (the one status reports), the cluster's
    # minor version.
    body = f'{{"etcdserver":"{ETCD_SERVER_VERSION}","etcdcluster":"{API_VERSION}"}}'.encode()
    return Response(body, media_type="application/json")


@router.get(
    "/metrics",
    tags=["Meta"],
    operation_id="Metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus' text exposition format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
