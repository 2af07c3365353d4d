"""A real headless Chromium follows a watch with EventSource."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.browser import launch, sync_api
from tests.support.compare import b64
from tests.support.servers import keyraft_member

SCRIPT = """
() => {
  window.received = [];
  const source = new EventSource('/v3/watch/sse?key=browser/&prefix=true');
  source.addEventListener('created', () => { window.created = true; });
  source.onmessage = (message) => {
    const result = JSON.parse(message.data);
    for (const event of result.events) {
      window.received.push({id: message.lastEventId, key: atob(event.kv.key), value: atob(event.kv.value || '')});
    }
  };
}
"""


def test_eventsource_in_chromium_receives_events(tmp_path: Path) -> None:
    playwright_api = sync_api()
    member = keyraft_member(tmp_path)
    member.start()
    try:
        with playwright_api.sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page()
                page.goto(member.client_url + "/version")
                page.evaluate(SCRIPT)
                page.wait_for_function("window.created === true", timeout=15000)
                revisions = []
                for index in range(3):
                    answer = httpx.post(
                        member.client_url + "/v3/kv/put",
                        json={"key": b64(f"browser/{index}"), "value": b64(f"v{index}")},
                    )
                    revisions.append(answer.json()["header"]["revision"])
                page.wait_for_function("window.received.length >= 3", timeout=15000)
                received = page.evaluate("window.received")
            finally:
                browser.close()
    finally:
        member.stop()
    assert [item["key"] for item in received] == ["browser/0", "browser/1", "browser/2"]
    assert [item["value"] for item in received] == ["v0", "v1", "v2"]
    assert [item["id"] for item in received] == revisions
