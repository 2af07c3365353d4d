"""GET /docs: Swagger UI served from the package, so it renders on a cluster with no internet.

The assets are swagger-ui-dist 5.35.0 (Apache-2.0, its LICENSE beside them), vendored
under app/static/swagger-ui/: the page loads nothing from any other host (no CDN, no
online validator badge).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response

ASSETS = Path(__file__).resolve().parent.parent / "static" / "swagger-ui"
ASSET_PREFIX = "/docs/assets"
# The only files the page needs; nothing else under the folder is served.
MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="keyraft API",
        swagger_js_url=f"{ASSET_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSET_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{ASSET_PREFIX}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": False},
    )


@router.get(ASSET_PREFIX + "/{name}")
async def asset(name: str) -> Response:
    media_type = MEDIA_TYPES.get(name)
    if media_type is None:
        return Response(b"404 page not found\n", 404, media_type="text/plain; charset=utf-8")
    return FileResponse(
        ASSETS / name, media_type=media_type, headers={"cache-control": "max-age=86400"}
    )
