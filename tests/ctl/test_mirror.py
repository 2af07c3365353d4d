"""`make-mirror` beside etcdctl's: both run as processes from the same source into fresh
destinations of their own, and the destinations end up identical (keys, values and, from
fresh members, revisions): the base copied at one revision, then each source revision
replayed as one transaction; --dest-prefix and --no-dest-prefix rename as etcdctl does."""

from __future__ import annotations

import base64
import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import wait_for
from tests.ctl.support import ctl_command, etcdctl, invoke, keyraftctl, spawn, stop
from tests.support.servers import Member, etcd_member, free_port, keyraft_member

pytestmark = pytest.mark.timeout(120)


def b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


def put(member: Member, key: str, value: str) -> None:
    assert member.post("/v3/kv/put", {"key": b64(key), "value": b64(value)}).status_code == 200


def contents(member: Member, revisions: bool = True) -> list[tuple]:
    """Every key of `member` with its value (and revisions and version)."""
    answer = member.post("/v3/kv/range", {"key": b64("\0"), "range_end": b64("\0")}).json()
    fields = ("create_revision", "mod_revision", "version") if revisions else ()
    return [
        (base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")).decode())
        + tuple(kv.get(name) for name in fields)
        for kv in answer.get("kvs", [])
    ]


def keys(member: Member) -> dict[str, str]:
    return {key: value for key, value in contents(member, revisions=False)}


@contextlib.contextmanager
def mirrors(commands: list[list[str]]) -> Iterator[list[subprocess.Popen]]:
    """The mirroring processes, stopped by PID however the block ends."""
    processes: list[subprocess.Popen] = []
    try:
        for command in commands:
            processes.append(
                spawn(
                    command,
                    env={"ETCDCTL_API": "3"},
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        yield processes
    finally:
        for process in processes:
            stop(process)
            process.communicate()


def mirror_command(tool: str, source: Member, destination: Member, *flags: str) -> list[str]:
    program = ["etcdctl"] if tool == "etcdctl" else ctl_command()
    return [*program, "--endpoints", source.client_url, "make-mirror", *flags,
            destination.client_url]  # fmt: skip


@contextlib.contextmanager
def fresh(*members: Member) -> Iterator[None]:
    try:
        for member in members:
            member.start()
        yield
    finally:
        for member in members:
            member.stop()


def test_mirror_matches_etcdctl(etcd: Member, tmp_path: Path) -> None:
    """etcd as the source; keyraftctl writes into a fresh keyraft, etcdctl (which speaks
    gRPC only) into a fresh etcd: the same keys at the same revisions."""
    prefix = f"/mm-{uuid.uuid4().hex[:8]}/"
    for name in "abc":
        put(etcd, prefix + name, f"v-{name}")
    put(etcd, f"/outside-{prefix}", "not mirrored")
    ours, theirs = keyraft_member(tmp_path, "ours"), etcd_member(tmp_path, "theirs")
    with fresh(ours, theirs), mirrors([
        mirror_command("keyraftctl", etcd, ours, "--prefix", prefix),
        mirror_command("etcdctl", etcd, theirs, "--prefix", prefix),
    ]) as processes:  # fmt: skip
        for member in (ours, theirs):
            wait_for(lambda m=member: len(keys(m)) == 3, 20, f"the base copy on {member.name}")
        put(etcd, prefix + "d", "v-d")
        assert etcd.post("/v3/kv/deleterange", {"key": b64(prefix + "a")}).status_code == 200
        txn = {
            "success": [
                {"request_put": {"key": b64(prefix + "e"), "value": b64("v-e")}},
                {"request_put": {"key": b64(prefix + "f"), "value": b64("")}},
                {"request_delete_range": {"key": b64(prefix + "b")}},
            ]
        }
        assert etcd.post("/v3/kv/txn", txn).status_code == 200
        expected = {prefix + name: f"v-{name}" for name in "cde"} | {prefix + "f": ""}
        for member in (ours, theirs):
            wait_for(lambda m=member: keys(m) == expected, 20, f"the changes on {member.name}")
        assert contents(ours) == contents(theirs)
        assert all(process.poll() is None for process in processes)


def test_dest_prefixes_match_etcdctl(etcd: Member, keyraft: Member, tmp_path: Path) -> None:
    """--dest-prefix and --no-dest-prefix: keyraftctl mirrors keyraft into a fresh etcd,
    etcdctl mirrors etcd (the same keys) into another; both end up alike."""
    prefix = f"/mm-{uuid.uuid4().hex[:8]}/"
    for source in (etcd, keyraft):
        put(source, prefix + "x/1", "one")
    ours, theirs = etcd_member(tmp_path, "ours"), etcd_member(tmp_path, "theirs")
    flag_sets = [("--dest-prefix", "/copy/"), ("--no-dest-prefix",)]
    commands = [
        mirror_command(tool, source, destination, "--prefix", prefix, *flags)
        for tool, source, destination in (("keyraftctl", keyraft, ours), ("etcdctl", etcd, theirs))
        for flags in flag_sets
    ]  # fmt: skip
    with fresh(ours, theirs), mirrors(commands):
        wait_for(lambda: len(keys(ours)) == len(keys(theirs)) == 2, 20, "the base copies")
        for source in (etcd, keyraft):
            put(source, prefix + "x/2", "two")
        expected = {"/copy/x/1": "one", "/copy/x/2": "two", "x/1": "one", "x/2": "two"}
        for member in (ours, theirs):
            wait_for(lambda m=member: keys(m) == expected, 20, f"the mirror on {member.name}")


@pytest.mark.parametrize(
    "arguments",
    [
        (),
        ("a", "b"),
        ("--dest-prefix", "x", "--no-dest-prefix", "DESTINATION"),
    ],
)
def test_bad_arguments_as_etcdctl(etcd: Member, arguments: tuple[str, ...]) -> None:
    arguments = tuple(etcd.client_url if word == "DESTINATION" else word for word in arguments)
    ours = invoke(etcd.client_url, "make-mirror", *arguments)
    theirs = etcdctl(etcd.client_url, "make-mirror", *arguments)
    assert (ours.code, ours.error) == (theirs.code, theirs.error)


def test_unreachable_destination_fails(etcd: Member) -> None:
    """No destination: the base copy's first put fails, and the command ends with 1."""
    put(etcd, "/mm-unreachable/k", "v")
    arguments = ("make-mirror", "--prefix", "/mm-unreachable/", f"127.0.0.1:{free_port()}")
    result = keyraftctl(etcd.client_url, *arguments)
    assert result.code == 1 and "connection refused" in result.error, result.error


class FakeSource:
    """A source holding keys a1..a5 at revision 9, answering ranges page by page."""

    def __init__(self) -> None:
        self.kvs = [{"key": b64(f"/p/a{n}"), "value": b64(str(n))} for n in range(1, 6)]
        self.requests: list[dict] = []

    def call(self, path: str, body: dict) -> dict:
        self.requests.append(body)
        if "limit" not in body:
            return {"header": {"revision": "9"}}
        assert body["revision"] == 9
        start = base64.b64decode(body["key"])
        rest = [kv for kv in self.kvs if base64.b64decode(kv["key"]) >= start]
        page = rest[: body["limit"]]
        return {"kvs": page, "more": len(rest) > len(page)}


class FakeDestination:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def call(self, path: str, body: dict) -> dict:
        self.calls.append((path, body))
        return {}


def test_mirror_pages_the_base_and_groups_events_by_revision(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keyraft.ctl.commands import mirror as module

    monkeypatch.setattr(module, "SYNC_PAGE", 2)
    source, destination = FakeSource(), FakeDestination()
    mirror = module.Mirror(source, destination, b"/p/", lambda key: key.replace(b"/p/", b"", 1))  # type: ignore[arg-type]
    assert mirror.copy_base() == 9
    assert [body["key"] for _, body in destination.calls] == [b64(f"a{n}") for n in range(1, 6)]
    assert len([r for r in source.requests if "limit" in r]) == 3
    destination.calls.clear()
    event = lambda kind, key, revision: {  # noqa: E731
        **({"type": kind} if kind else {}),
        "kv": {"key": b64(key), "value": b64("v"), "mod_revision": str(revision)},
    }
    mirror._apply({"events": [event("", "/p/x", 10), event("DELETE", "/p/a1", 11),
                              event("", "/p/y", 11)]})  # fmt: skip
    assert destination.calls == [
        ("/v3/kv/txn", {"success": [{"request_put": {"key": b64("x"), "value": b64("v")}}]}),
        ("/v3/kv/txn", {"success": [{"request_delete_range": {"key": b64("a1")}},
                                    {"request_put": {"key": b64("y"), "value": b64("v")}}]}),
    ]  # fmt: skip
    assert mirror.synced == 8


def test_the_synced_count_is_printed_periodically(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading
    import time

    from keyraft.ctl.commands import mirror as module

    monkeypatch.setattr(module, "REPORT_EVERY_S", 0.01)
    mirror = module.Mirror(FakeSource(), FakeDestination(), b"", lambda key: key)  # type: ignore[arg-type]
    mirror.synced = 7
    stop = threading.Event()
    printer = threading.Thread(target=module.report, args=(mirror, stop))
    printer.start()
    printed = ""
    deadline = time.monotonic() + 10
    while "7\n7\n" not in printed and time.monotonic() < deadline:
        printed += capsys.readouterr().out
        time.sleep(0.01)
    stop.set()
    printer.join()
    assert printed.startswith("7\n7\n")


def test_a_compacted_watch_ends_the_mirror_with_etcdctls_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from keyraft.ctl.commands import mirror as module

    def compacted(*_arguments: object) -> None:
        raise module.WatchCompacted("watch is canceled by the server (...)")

    monkeypatch.setattr(module, "run_watch", compacted)
    mirror = module.Mirror(FakeSource(), FakeDestination(), b"", lambda key: key)  # type: ignore[arg-type]
    with pytest.raises(
        module.CtlError, match="^etcdserver: mvcc: required revision has been compacted$"
    ):
        mirror.follow(4)
