"""GET / serves the browser console: its files, content types, cache and security headers."""

from __future__ import annotations

import asyncio
import re
import tomllib
from pathlib import Path

import httpx
import pytest

from keyraft.app.config import ServerConfig
from keyraft.app.factory import create_app
from keyraft.app.routes.console import ASSETS, FOLDER, policy
from tests.support.servers import ROOT


async def _get(
    directory: Path, *paths: str, headers: dict | None = None, method: str = "GET"
) -> list[httpx.Response]:
    front, _server = create_app(ServerConfig(name="console", data_dir=str(directory)))
    transport = httpx.ASGITransport(app=front)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return [await client.request(method, path, headers=headers) for path in paths]


def get(
    tmp_path: Path, *paths: str, headers: dict | None = None, method: str = "GET"
) -> list[httpx.Response]:
    return asyncio.run(_get(tmp_path, *paths, headers=headers, method=method))


def test_the_console_is_served_at_the_root_with_a_strict_policy(tmp_path: Path) -> None:
    page, script, style = get(tmp_path, "/", "/console/main.js", "/console/console.css")
    assert page.status_code == 200 and b"<title>keyraft console</title>" in page.content
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    for response in (page, script, style):
        policy = response.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "connect-src 'self'" in policy
        assert "unsafe" not in policy
        # Besides its own origin, the page may reach only its cluster's client URLs.
        connect = next(part for part in policy.split("; ") if part.startswith("connect-src"))
        assert connect == "connect-src 'self' http://localhost:2379"
        assert "http" not in policy.replace(connect, "")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["etag"]


def test_head_answers_the_headers(tmp_path: Path) -> None:
    (head,) = get(tmp_path, "/console/main.js", method="HEAD")
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/javascript; charset=utf-8"


def test_an_unchanged_file_is_answered_304(tmp_path: Path) -> None:
    etag = ASSETS["index.html"].etag
    (again,) = get(tmp_path, "/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize("path", ["/console/missing.js", "/console/..%2Fasgi.py", "/nowhere"])
def test_other_paths_stay_etcds_404(tmp_path: Path, path: str) -> None:
    (response,) = get(tmp_path, path)
    assert response.status_code == 404 and response.text == "404 page not found\n"


def test_every_file_the_page_loads_is_shipped() -> None:
    """Each module imported, script, style or icon linked exists, and pyproject's
    package-data patterns include every console file."""
    names = set()
    for asset in ASSETS.values():
        text = asset.body.decode()
        names |= set(re.findall(r"from '\./([\w-]+\.js)'", text))
        names |= set(re.findall(r'(?:src|href)="/console/([\w.-]+)"', text))
    assert names and names <= set(ASSETS)
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["keyraft.app"]
    shipped = {
        path.name
        for pattern in patterns
        for path in FOLDER.parent.glob(pattern)
        if path.parent == FOLDER
    }
    assert set(ASSETS) == shipped


def test_the_page_has_no_inline_script_or_style() -> None:
    """The policy forbids them, so they would silently not run."""
    page = ASSETS["index.html"].body.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)
    assert "<style" not in page and " style=" not in page


def test_a_member_url_cannot_add_to_the_policy() -> None:
    """Only well-formed origins of the members' client URLs join connect-src."""

    class Server:
        @staticmethod
        def members_json() -> list[dict]:
            return [
                {"clientURLs": ["https://10.0.0.1:2379/", "http://[::1]:2379"]},
                {"clientURLs": ["http://evil; script-src *", "unix://x", "http://a b"]},
            ]

    class Request:
        app = type("App", (), {"state": type("State", (), {"server": Server()})()})()

    found = policy(Request())  # type: ignore[arg-type]
    assert "connect-src 'self' http://[::1]:2379 https://10.0.0.1:2379;" in found
    assert "evil" not in found and "unix" not in found and "a b" not in found
