"""Build the keyraft ASGI application for a configuration."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from keyraft.app import metrics, profiling
from keyraft.app.asgi import KeyraftFront
from keyraft.app.config import KEYRAFT_VERSION, ServerConfig
from keyraft.app.openapi_schemas import SECURITY_SCHEMES, components
from keyraft.app.routes import (
    console,
    docs,
    election,
    keys,
    lease,
    meta,
    pprof,
    probes,
    snapshot,
    unary,
    watch,
)
from keyraft.app.server.etcdserver import EtcdServer

DESCRIPTION = """keyraft speaks etcd v3's HTTP/JSON gateway API. Keys and values are
base64-encoded; 64-bit integers are strings in answers (numbers or strings in requests);
fields at their zero value are omitted. Errors are `{"error", "message", "code"}` with the
gRPC code, mapped to an HTTP status as etcd's gateway does. `/v3beta/...` serves the same
as `/v3/...`; the gateway paths also take WebSocket upgrades (etcd's websocket proxy).
While auth is enabled, send the token from `/v3/auth/authenticate` in `Authorization`.
`/v3/keys/{key}` reads and writes keys and values as plain text (keyraft's own)."""

_TEXT = "text/plain; charset=utf-8"


def _plain(status: int, text: str) -> Response:
    response = Response((text + "\n").encode(), status_code=status, media_type=_TEXT)
    response.headers["x-content-type-options"] = "nosniff"
    return response


def _drop_validation_errors(schema: dict) -> None:
    """FastAPI documents a 422 for routes with parameters; keyraft never answers one (its
    routes parse their own parameters and refuse them in etcd's shape)."""
    for operations in schema["paths"].values():
        for operation in operations.values():
            operation["responses"].pop("422", None)


def build_fastapi(server: EtcdServer, manage_server: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if manage_server:
            await server.start()
        try:
            yield
        finally:
            if manage_server:
                await server.hand_over_leadership()
                await server.stop()

    app = FastAPI(
        title="keyraft",
        version=KEYRAFT_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # app.routes.docs serves it from the package
        redoc_url=None,
    )
    app.state.server = server
    metrics.attach(server)
    app.include_router(unary.router)
    app.include_router(lease.router)
    app.include_router(meta.router)
    app.include_router(probes.router)
    app.include_router(watch.router)
    app.include_router(election.router)
    app.include_router(snapshot.router)
    app.include_router(keys.router)
    app.include_router(docs.router)
    app.include_router(console.router)
    if server.config.enable_pprof:  # off by default: unknown paths then, as etcd's
        profiling.start_tracing()
        app.include_router(pprof.router)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 405:
            # etcd's gateway sends no Allow header; RFC 9110 asks for one.
            response = _plain(405, "Method Not Allowed")
            response.headers.update(error.headers or {})
            return response
        if error.status_code == 404:
            # The gateway's own 404 under /v3/, Go's mux default elsewhere.
            if request.url.path.startswith("/v3/"):
                return _plain(404, "Not Found")
            return _plain(404, "404 page not found")
        return _plain(error.status_code, str(error.detail))

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {})["schemas"] = components()
            _drop_validation_errors(schema)
            schema["components"]["securitySchemes"] = SECURITY_SCHEMES
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def create_app(config: ServerConfig, fast_path: bool = True) -> tuple[KeyraftFront, EtcdServer]:
    server = EtcdServer(config)
    front = KeyraftFront(
        server,
        build_fastapi(server),
        fast_path=fast_path,
        cors=config.cors,
        host_whitelist=config.host_whitelist,
        client_cert_auth=config.client_cert_auth,
    )
    return front, server
