"""GET /debug/pprof/*, served on the client URLs only with --enable-pprof (as etcd's).

Go's profiles have Python counterparts (`keyraft.app.profiling`): `goroutine` dumps every
asyncio task and thread, `heap` lists tracemalloc's top allocation sites, `profile` is a
cProfile of the event loop. Without the flag these paths are unknown (404), as in etcd.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse, RedirectResponse

from keyraft.app import profiling

router = APIRouter(prefix="/debug/pprof", include_in_schema=False)

DEFAULT_SECONDS = 30  # Go's default
MAX_SECONDS = 60
DEFAULT_TOP = 50

PROFILES = {
    "goroutine": "Stack of every asyncio task (debug=2: one by one; else identical stacks "
    "counted together) and of every thread.",
    "heap": "The largest allocation sites still holding memory, from tracemalloc "
    "(top=N, at most 1000).",
    "profile": "CPU profile of the event loop's thread for seconds=N (30 by default, at "
    "most 60), cProfile's listing sorted by cumulative time (top=N), or format=pstats for "
    "a file pstats and snakeviz read. For every thread, sample with py-spy instead.",
}

_INDEX = """<html>
<head><title>/debug/pprof/</title></head>
<body>
/debug/pprof/<br>
<br>
Types of profiles available:
<table>
<thead><td>Profile</td><td>Description</td></thead>
{rows}
</table>
<a href="goroutine?debug=2">full goroutine stack dump</a>
</body>
</html>
"""


def _text(text: str, status: int = 200) -> Response:
    response = PlainTextResponse(text, status_code=status)
    response.headers["x-content-type-options"] = "nosniff"
    return response


def _integer(value: str | None, default: int) -> int:
    """A query integer; Go's pprof takes a missing or malformed one as the default."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number > 0 else default


@router.get("")
async def redirect() -> Response:
    return RedirectResponse("/debug/pprof/", status_code=301)


@router.get("/")
async def index() -> Response:
    rows = "\n".join(
        f"<tr><td><a href='{name}?debug=1'>{name}</a></td><td>{description}</td></tr>"
        for name, description in PROFILES.items()
    )
    return Response(_INDEX.format(rows=rows), media_type="text/html; charset=utf-8")


@router.get("/goroutine")
async def goroutine(request: Request) -> Response:
    tasks, threads = profiling.capture_stacks()
    full = request.query_params.get("debug") == "2"
    return _text(await asyncio.to_thread(profiling.format_stacks, tasks, threads, full))


@router.get("/heap")
async def heap(request: Request) -> Response:
    top = min(_integer(request.query_params.get("top"), DEFAULT_TOP), profiling.MAX_TOP)
    report = await asyncio.to_thread(profiling.heap_report, top)
    if report is None:
        return _text("tracemalloc is not tracing\n", 503)
    return _text(report)


@router.get("/profile")
async def profile(request: Request) -> Response:
    seconds = _integer(request.query_params.get("seconds"), DEFAULT_SECONDS)
    if seconds > MAX_SECONDS:
        return _text(f"profile duration exceeds the limit of {MAX_SECONDS}s\n", 400)
    try:
        stats = await profiling.cpu_profile(seconds)
    except profiling.ProfilingBusy:
        return _text("Could not enable CPU profiling: a profile is being taken\n", 409)
    if request.query_params.get("format") == "pstats":
        dump = await asyncio.to_thread(profiling.profile_dump, stats)
        return Response(
            dump,
            media_type="application/octet-stream",
            headers={"content-disposition": 'attachment; filename="profile.pstats"'},
        )
    top = min(_integer(request.query_params.get("top"), DEFAULT_TOP), profiling.MAX_TOP)
    return _text(await asyncio.to_thread(profiling.profile_text, stats, top))


@router.get("/{name}")
async def unknown(name: str) -> Response:
    return _text("Unknown profile\n", 404)
