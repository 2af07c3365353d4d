"""The console at / in headless Chromium, against a real member: one browser, one member.

Every request the page makes is recorded: it must reach only the member serving it.
Screenshots go to test-artifacts/console/.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from tests.support.browser import ARTIFACTS, launch, sync_api
from tests.support.compare import b64
from tests.support.servers import Member, keyraft_member

SHOTS = ARTIFACTS / "console"
WAIT_MS = 10_000


@dataclass
class Console:
    member: Member
    page: object
    requests: list[str] = field(default_factory=list)
    ranges: list[dict] = field(default_factory=list)  # the bodies of the page's ranges
    problems: list[str] = field(default_factory=list)

    def record(self, request) -> None:
        self.requests.append(request.url)
        if request.url.endswith("/v3/kv/range"):
            self.ranges.append(request.post_data_json)

    def console_error(self, message) -> None:
        """Script errors and policy violations; a refused API call (the compacted
        history's 400) is an answer the page handles, not a problem."""
        if (
            message.type == "error"
            and "the server responded with a status of 4" not in message.text
        ):
            self.problems.append(message.text)

    def put(self, key: str, value: str | bytes, **extra: object) -> int:
        answer = self.member.post("/v3/kv/put", {"key": b64(key), "value": b64(value), **extra})
        assert answer.status_code == 200, answer.text
        return int(answer.json()["header"]["revision"])

    def value(self, key: str) -> bytes:
        kvs = self.member.post("/v3/kv/range", {"key": b64(key)}).json().get("kvs", [])
        return base64.b64decode(kvs[0].get("value", "")) if kvs else b""

    def open(self, view: str) -> None:
        """A fresh load of the console at `view` (about:blank between: a goto that only
        changes the fragment would not reload)."""
        self.page.goto("about:blank")
        self.page.goto(f"{self.member.client_url}/#{view}")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def open_key(self, key: str) -> None:
        self.open("keys")
        folders = key.split("/")[:-1]
        for depth in range(len(folders)):
            self.page.click(f'#tree a[data-key="{"/".join(folders[: depth + 1])}/"]')
        self.page.click(f'#tree a[data-key="{key}"]')
        self.page.wait_for_selector(f'#editor-key:text-is("{key}")')


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    api = sync_api()
    member = keyraft_member(tmp_path_factory.mktemp("console"))
    member.start()
    try:
        with api.sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.set_default_timeout(WAIT_MS)
                found = Console(member, page)
                page.on("request", found.record)
                page.on("pageerror", lambda error: found.problems.append(str(error)))
                page.on("console", lambda message: found.console_error(message))
                yield found
            finally:
                browser.close()
    finally:
        member.stop()


def test_lists_keys_put_over_http_as_a_tree(console: Console) -> None:
    console.put("app/config/db", '{"host":"db","port":5432}')
    console.put("app/config/cache", "plain text")
    console.put("app/blob", b"\x00\xff\x10binary")
    console.put("top", "level")
    console.open("keys")
    page = console.page
    page.wait_for_selector('#tree a[data-key="app/"]')
    assert page.is_visible('#tree a[data-key="top"]')
    page.wait_for_selector("#total:has-text('4 keys')")
    page.click('#tree a[data-key="app/"]')
    page.click('#tree a[data-key="app/config/"]')
    page.click('#tree a[data-key="app/config/db"]')
    page.wait_for_selector("#pretty.json")
    assert '"port": 5432' in page.text_content("#pretty")
    page.click('#crumbs a:text-is("app/")')
    page.click('#tree a[data-key="app/blob"]')
    page.wait_for_selector("#pretty.hex")
    assert "00 ff 10 62" in page.text_content("#pretty")
    console.shot("keys")


def test_edits_a_value_and_refuses_a_stale_edit(console: Console) -> None:
    console.put("edit/me", "first")
    console.open_key("edit/me")
    page = console.page
    page.fill("#value", "second")
    page.click("#save")
    page.wait_for_selector("#editor-message.ok")
    assert console.value("edit/me") == b"second"
    # Another client changes the key while the editor holds the old revision.
    console.put("edit/me", "theirs")
    page.fill("#value", "mine")
    page.click("#save")
    page.wait_for_selector("#editor-message.stale")
    assert "Refused" in page.text_content("#editor-message")
    assert console.value("edit/me") == b"theirs"
    console.shot("stale-edit")
    page.click("#reload")
    sync_api().expect(page.locator("#value")).to_have_value("theirs")


def test_creates_and_deletes_keys_and_never_overwrites_on_create(console: Console) -> None:
    console.put("made/existing", "kept")
    console.open("keys")
    page = console.page
    for key, value in [("made/new", "hello"), ("made/existing", "clobber")]:
        page.click("#new")
        page.fill("#new-key", key)
        page.fill("#value", value)
        page.click("#save")
        page.wait_for_selector("#editor-message.ok, #editor-message.stale")
    assert "Refused" in page.text_content("#editor-message")
    assert console.value("made/existing") == b"kept"
    console.open_key("made/new")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    page.wait_for_selector("#editor-message:has-text('Deleted made/new')")
    assert console.value("made/new") == b""
    page.wait_for_selector('#tree a[data-key="made/existing"]')
    assert not page.is_visible('#tree a[data-key="made/new"]')


def test_shows_a_keys_history_until_compaction(console: Console) -> None:
    revisions = [console.put("history/key", f"value {index}") for index in range(3)]
    console.open_key("history/key")
    page = console.page
    page.click("#show-history")
    page.wait_for_selector("#history li.created")
    versions = page.locator("#history li.version code").all_text_contents()
    assert versions == ["value 2", "value 1", "value 0"]
    answer = console.member.post("/v3/kv/compaction", {"revision": revisions[1]})
    assert answer.status_code == 200, answer.text
    page.click("#show-history")
    page.wait_for_selector("#history li.compacted")
    versions = page.locator("#history li.version code").all_text_contents()
    assert versions == ["value 2", "value 1"]
    console.shot("history")


def test_shows_members_and_the_leader(console: Console) -> None:
    console.open("members")
    page = console.page
    row = page.locator("#member-rows tr.leader")
    row.wait_for()
    assert "leader (this member)" in row.locator("td.role").text_content()
    cells = row.locator("td").all_text_contents()
    assert cells[0] == "kr1" and cells[3] == "healthy" and int(cells[4]) > 0
    assert "1 member(s)" in page.text_content("#cluster-summary")
    console.shot("members")


def test_shows_leases_counting_down_with_their_keys(console: Console) -> None:
    lease = console.member.post("/v3/lease/grant", {"TTL": 120}).json()["ID"]
    console.put("leased/key", "v", lease=lease)
    console.open("leases")
    page = console.page
    row = page.locator(f'#lease-rows tr[data-lease="{int(lease):x}"]')
    row.wait_for()
    assert "leased/key" in row.locator("td.keys").text_content()
    first = int(row.locator("td.ttl").text_content().rstrip("s"))
    assert 0 < first <= 120
    sync_api().expect(row.locator("td.ttl")).not_to_have_text(f"{first}s")
    console.shot("leases")


def test_a_put_by_another_client_appears_live(console: Console) -> None:
    console.open("live")
    page = console.page
    page.fill("#live-prefix", "live/")
    page.click("#live-start")
    page.wait_for_selector("#live-state.live")
    started = time.monotonic()
    console.put("live/event", "fresh")
    page.wait_for_selector('#live-rows td.key:text-is("live/event")', timeout=5000)
    elapsed = time.monotonic() - started
    console.shot("live")
    print(f"live view showed the put after {elapsed:.2f}s")  # the goal is under 1 s


@pytest.mark.long
def test_the_tree_stays_quick_with_100000_keys(console: Console) -> None:
    """100 folders of 500 keys and 50,000 keys side by side: each level shows in seconds."""
    with httpx.Client(base_url=console.member.client_url, timeout=30) as client:
        names = [f"big/dir{index % 100:03d}/k{index:06d}" for index in range(50_000)]
        names += [f"flat/k{index:06d}" for index in range(50_000)]
        for start in range(0, len(names), 128):
            puts = [
                {"request_put": {"key": b64(name), "value": b64("v")}}
                for name in names[start : start + 128]
            ]
            assert client.post("/v3/kv/txn", json={"success": puts}).status_code == 200
    page = console.page
    page.set_default_timeout(60_000)
    timings = {}

    def timed(name: str, *selectors: str) -> None:
        started = time.monotonic()
        for selector in selectors:
            page.wait_for_selector(selector)
            timings[f"{name}: {selector}"] = round(time.monotonic() - started, 2)

    console.open("keys")
    timed("root", '#tree a[data-key="big/"]', '#tree a[data-key="flat/"]')
    page.click('#tree a[data-key="big/"]')
    timed("big/", '#tree a[data-key="big/dir000/"]', '#tree a[data-key="big/dir099/"]')
    page.click('#crumbs a:text-is("(root)")')
    page.click('#tree a[data-key="flat/"]')
    timed("flat/", "#tree li.key", "#tree li.more", "#total:has-text('50000 keys')")
    assert page.locator("#tree li.key").count() == 200
    console.shot("many-keys")
    page.set_default_timeout(WAIT_MS)
    print(timings)
    firsts = [
        seconds for name, seconds in timings.items() if "data-key" in name or "li.key" in name
    ]
    assert max(firsts[:1] + firsts[2:3] + firsts[4:5]) < 10, timings


def test_the_page_reaches_only_its_own_member(console: Console) -> None:
    """Runs last in this module: every request of the tests above was recorded."""
    assert len(console.requests) > 10
    others = [url for url in console.requests if not url.startswith(console.member.client_url)]
    assert others == []
    assert console.problems == []


def test_the_page_never_reads_a_whole_range(console: Console) -> None:
    """Fast with many keys: a range over more than one key is paged (limit), keys_only
    or count_only; never everything at once."""
    assert console.ranges
    for body in console.ranges:
        if "range_end" in body and not body.get("count_only"):
            assert body.get("limit") and body.get("keys_only"), body
