"""GET / and /console/...: the browser console, static files shipped in the package.

The console is plain ES modules and CSS (no build step, nothing from another host); it
talks to the same JSON API as any client. Its responses carry a strict
Content-Security-Policy (this origin and its cluster's client URLs only, no inline script
or style), so a value shown
in the page can never run as code; `no-cache` with an ETag keeps an upgraded member from
serving a stale script while a reload costs only a 304.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response
from starlette.exceptions import HTTPException

router = APIRouter()
FOLDER = Path(__file__).resolve().parent.parent / "console"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'{members}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# An origin as a member publishes it (scheme, host, port): anything else stays out of
# the policy, so no URL can add a directive to it.
ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d+)?|https?://\[[0-9A-Fa-f:.]+\](:\d+)?")


def policy(request: Request) -> str:
    """The console's policy: its own origin, and the client URLs of its cluster's members
    (the members view asks each member for its own status)."""
    server = getattr(request.app.state, "server", None)
    origins = set()
    for member in server.members_json() if server is not None else ():
        for url in member.get("clientURLs", ()):
            parts = urlsplit(url)
            origin = f"{parts.scheme}://{parts.netloc}"
            if ORIGIN.fullmatch(origin):
                origins.add(origin)
    return POLICY.format(members="".join(f" {origin}" for origin in sorted(origins)))


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets(folder: Path = FOLDER) -> dict[str, Asset]:
    """Every file of the console by name, read once: they change only with the package."""
    assets = {}
    for path in sorted(folder.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is not None and path.is_file():
            body = path.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[path.name] = Asset(body, content_type, etag)
    return assets


ASSETS = load_assets()


def serve(request: Request, name: str) -> Response:
    asset = ASSETS.get(name)
    if asset is None:
        raise HTTPException(404)
    headers = {
        "Cache-Control": "no-cache",
        "ETag": asset.etag,
        "Content-Security-Policy": policy(request),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def console_page(request: Request) -> Response:
    return serve(request, "index.html")


@router.api_route("/console/{name}", methods=["GET", "HEAD"], include_in_schema=False)
async def console_asset(request: Request, name: str) -> Response:
    return serve(request, name)
