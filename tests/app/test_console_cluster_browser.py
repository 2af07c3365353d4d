"""The console's members view on a 3-member cluster, in headless Chromium: every member's
health, raft index and db size, each asked of the member itself, and no request to any
host outside the cluster."""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import ARTIFACTS, launch, sync_api
from tests.support.servers import find_leader, keyraft_cluster, start_all


def test_every_member_shows_its_own_status(tmp_path: Path) -> None:
    api = sync_api()
    members = keyraft_cluster(tmp_path, 3)
    try:
        start_all(members)
        leader = find_leader(members)
        follower = next(member for member in members if member is not leader)
        clients = tuple(member.client_url for member in members)
        requests: list[str] = []
        problems: list[str] = []
        with api.sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 600})
                page.set_default_timeout(15_000)
                page.on("request", lambda request: requests.append(request.url))
                page.on("pageerror", lambda error: problems.append(str(error)))
                page.goto(f"{follower.client_url}/#members")
                # every row filled by its own member: healthy, a raft index, a db size
                page.wait_for_function(
                    """() => {
                        const rows = [...document.querySelectorAll('#member-rows tr')];
                        return rows.length === 3 && rows.every((row) =>
                            row.cells[3].textContent === 'healthy' &&
                            Number(row.cells[4].textContent) > 0 &&
                            row.cells[6].textContent !== '—');
                    }"""
                )
                rows = page.locator("#member-rows tr")
                names = {rows.nth(i).locator("td").first.text_content() for i in range(3)}
                assert names == {member.name for member in members}
                leading = page.locator("#member-rows tr.leader td").first.text_content()
                assert leading == leader.name
                (ARTIFACTS / "console").mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "console" / "members-3.png"))
            finally:
                browser.close()
        asked = {url for url in requests if "/v3/maintenance/status" in url}
        assert {url.removesuffix("/v3/maintenance/status") for url in asked} == set(clients)
        assert [url for url in requests if not url.startswith(clients)] == []
        assert problems == []
    finally:
        for member in members:
            member.stop()
