"""GET /health, /version and /metrics, as etcd serves them on the client port."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from keyraft.app.config import API_VERSION, ETCD_SERVER_VERSION

router = APIRouter()


@router.get("/health", tags=["Meta"], summary="Whether this member can serve")
async def health(request: Request) -> Response:
    # etcd answers JSON with a text/plain content type; clients rely on the body only.
    if request.app.state.server.has_leader():
        return Response(b'{"health":"true"}', media_type="text/plain; charset=utf-8")
    return Response(b'{"health":"false"}', status_code=503, media_type="text/plain; charset=utf-8")


@router.get("/version", tags=["Meta"], summary="The etcd API version this member speaks")
async def version() -> Response:
    # As etcd 3.4.23: the server's own version (the one status reports), the cluster's
    # minor version.
    body = f'{{"etcdserver":"{ETCD_SERVER_VERSION}","etcdcluster":"{API_VERSION}"}}'.encode()
    return Response(body, media_type="application/json")


@router.get("/metrics", tags=["Meta"], summary="Prometheus metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
