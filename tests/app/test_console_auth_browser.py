"""With auth on, the console asks for a login, then works with the token, including the
live view (its EventSource passes the token in the query: it cannot set headers)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.browser import ARTIFACTS, launch, sync_api
from tests.support.compare import b64
from tests.support.servers import Member, keyraft_member

WAIT_MS = 10_000


def enable_auth(member: Member) -> str:
    """Root with the root role, auth on; returns root's token."""
    for path, body in [
        ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
        ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
        ("/v3/auth/enable", {}),
    ]:
        answer = member.post(path, body)
        assert answer.status_code == 200, answer.text
    answer = member.post("/v3/auth/authenticate", {"name": "root", "password": "rootpw"})
    return answer.json()["token"]


def test_the_login_form_appears_and_works(tmp_path: Path) -> None:
    api = sync_api()
    member = keyraft_member(tmp_path, extra=("--bcrypt-cost", "4"))
    member.start()
    try:
        assert member.post("/v3/kv/put", {"key": b64("secret/a"), "value": b64("1")}).is_success
        token = enable_auth(member)
        with api.sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.set_default_timeout(WAIT_MS)
                requests: list[str] = []
                page.on("request", lambda request: requests.append(request.url))
                page.goto(member.client_url + "/#keys")
                page.wait_for_selector("#login[open]")
                page.screenshot(path=str(shot("login")))
                page.fill("#login-user", "root")
                page.fill("#login-password", "wrong")
                page.click("#login-submit")
                page.wait_for_selector("#login-error:has-text('invalid user ID or password')")
                page.fill("#login-password", "rootpw")
                page.click("#login-submit")
                page.wait_for_selector('#tree a[data-key="secret/"]')
                assert not page.is_visible("#login")
                assert "root" in page.text_content("#whoami")
                page.click('#tabs a[data-view="live"]')
                page.fill("#live-prefix", "secret/")
                page.click("#live-start")
                page.wait_for_selector("#live-state.live")
                put = {"key": b64("secret/b"), "value": b64("2")}
                answer = httpx.post(
                    member.client_url + "/v3/kv/put", json=put, headers={"Authorization": token}
                )
                assert answer.status_code == 200, answer.text
                page.wait_for_selector('#live-rows td.key:text-is("secret/b")')
                page.screenshot(path=str(shot("live-with-auth")))
            finally:
                browser.close()
        for path in ("/v3/watch/sse?key=secret/&prefix=true", "/v3/election/observe/sse?name=e"):
            assert sse_status(f"{member.client_url}{path}&token=garbage") == 401
            assert sse_status(f"{member.client_url}{path}&token={token}") == 200
    finally:
        member.stop()
    assert [url for url in requests if not url.startswith(member.client_url)] == []


def sse_status(url: str) -> int:
    """The status of a server-sent-events answer (its headers come before any event)."""
    with httpx.stream("GET", url, timeout=15) as response:
        return response.status_code


def shot(name: str) -> Path:
    folder = ARTIFACTS / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"
