"""/docs renders its operation list in a real headless Chromium with no request to any
other host (the page works on a cluster without internet). A screenshot is kept under
test-artifacts/."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from tests.api.test_openapi import DOCUMENT
from tests.support.browser import ARTIFACTS, launch, sync_api
from tests.support.servers import Member


def test_docs_render_offline_in_chromium(member: Member) -> None:
    playwright_api = sync_api()
    operations = sum(len(item) for item in json.loads(DOCUMENT.read_text())["paths"].values())
    requested: list[str] = []
    with playwright_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 2000})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(member.client_url + "/docs")
            page.wait_for_function(
                f"document.querySelectorAll('.opblock').length >= {operations}", timeout=30000
            )
            shown = page.eval_on_selector_all(
                ".opblock-summary-path", "nodes => nodes.map(node => node.dataset.path)"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "docs.png"))
        finally:
            browser.close()
    assert "/v3/kv/range" in shown and "/v3/keys/{key}" in shown
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {urlsplit(member.client_url).netloc}, requested
