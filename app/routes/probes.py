"""GET /livez and /readyz, as etcd 3.5.12+ serves them for Kubernetes probes.

/livez asks "should this process be restarted?": a local (serializable) read works.
/readyz asks "should clients be sent here?": no CORRUPT alarm, a local read, and a
linearizable read, which needs a leader that confirms it still leads (a member cut off
from the quorum, or removed from the cluster, fails it). As etcd: "ok" on success, the
failed checks listed on a 503, `?verbose` lists every check, `?exclude=<check>` skips one,
and `/livez/<check>`, `/readyz/<check>` run one check alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response

from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import AlarmType, Range

CHECK_TIMEOUT = 2.0  # below the probes' timeoutSeconds in deploy/k8s
Check = Callable[[EtcdServer], Awaitable[None]]
router = APIRouter()


async def _read(server: EtcdServer, serializable: bool) -> None:
    if not serializable and not server.has_leader():
        raise RuntimeError("etcdserver: no leader")
    probe = Range(key=b"\0", keys_only=True, limit=1, serializable=serializable)
    try:
        await asyncio.wait_for(server.range(probe), CHECK_TIMEOUT)
    except TimeoutError:
        raise RuntimeError("etcdserver: request timed out") from None


async def serializable_read(server: EtcdServer) -> None:
    await _read(server, serializable=True)


async def linearizable_read(server: EtcdServer) -> None:
    await _read(server, serializable=False)


async def data_corruption(server: EtcdServer) -> None:
    if server.state.alarms.active(AlarmType.CORRUPT):
        raise RuntimeError("alarm activated: CORRUPT")


CHECKS: dict[str, dict[str, Check]] = {
    "livez": {"serializable_read": serializable_read},
    "readyz": {
        "data_corruption": data_corruption,
        "serializable_read": serializable_read,
        "linearizable_read": linearizable_read,
    },
}


async def run(server: EtcdServer, checks: dict[str, Check], verbose: bool) -> Response:
    lines, failed = [], False
    for name, check in checks.items():
        try:
            await check(server)
            lines.append(f"[+]{name} ok\n")
        except Exception as error:  # noqa: BLE001 - any failure is the probe's answer
            failed = True
            lines.append(f"[-]{name} failed: {error}\n")
    if failed:
        return Response("".join(lines) + "\n", 503, media_type="text/plain; charset=utf-8")
    body = ("".join(lines) if verbose else "") + "ok\n"
    return Response(
        body, headers={"X-Content-Type-Options": "nosniff"}, media_type="text/plain; charset=utf-8"
    )


def _text(description: str) -> dict:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _route(kind: str) -> None:
    verbose = {
        "name": "verbose",
        "in": "query",
        "required": False,
        "description": "present: list every check's outcome",
        "allowEmptyValue": True,
        "schema": {"type": "string"},
    }
    responses = {
        200: _text("`ok` (with `?verbose`, a `[+]check ok` line per check first)"),
        503: _text("A `[-]check failed: reason` line per failed check"),
    }

    @router.get(
        f"/{kind}",
        tags=["Meta"],
        operation_id=kind.capitalize(),
        summary=f"etcd 3.5's /{kind} probe",
        response_class=Response,
        responses=responses,
        openapi_extra={
            "parameters": [
                verbose,
                {
                    "name": "exclude",
                    "in": "query",
                    "required": False,
                    "description": "a check to skip (repeatable): "
                    + ", ".join(CHECKS[kind])
                    + "; an unknown name is ignored, as etcd does",
                    "schema": {"type": "array", "items": {"type": "string"}},
                    "explode": True,
                },
            ]
        },
    )
    async def every(request: Request) -> Response:
        excluded = set(request.query_params.getlist("exclude"))
        checks = {n: c for n, c in CHECKS[kind].items() if n not in excluded}
        return await run(request.app.state.server, checks, "verbose" in request.query_params)

    @router.get(
        f"/{kind}/{{check}}",
        tags=["Meta"],
        operation_id=kind.capitalize() + "Check",
        summary=f"One check of /{kind}",
        response_class=Response,
        responses={**responses, 404: _text("`404 page not found`: no such check")},
        openapi_extra={"parameters": [verbose]},
    )
    async def one(check: str, request: Request) -> Response:
        if check not in CHECKS[kind]:
            return Response("404 page not found\n", 404, media_type="text/plain; charset=utf-8")
        checks = {check: CHECKS[kind][check]}
        return await run(request.app.state.server, checks, "verbose" in request.query_params)


_route("livez")
_route("readyz")
