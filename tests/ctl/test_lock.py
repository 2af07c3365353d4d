"""`lock` and `elect`: keyraftctl against keyraft prints what etcdctl prints against etcd
(byte for byte once the lease IDs in the keys and the revisions are hidden), including
Ctrl-C: a holder unlocks or resigns, a waiter gives up with "context canceled"."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable

import httpx

from tests.ctl.support import Reader, Result, ctl_command, etcdctl, keyraftctl, spawn, stop
from tests.support.compare import b64
from tests.support.servers import Member

Run = Callable[..., Result]


def hidden(text: str) -> str:
    """Lease IDs (in keys) and revisions differ between the two servers."""
    return re.sub(r"R=\d+", "R=N", re.sub(r"/[0-9a-f]+\b", "/LEASE", text))


def both(etcd: Member, keyraft: Member, *arguments: str) -> Result:
    theirs = etcdctl(etcd.client_url, *arguments)
    ours = keyraftctl(keyraft.client_url, *arguments)
    assert (ours.code, hidden(ours.text), ours.error) == (
        theirs.code,
        hidden(theirs.text),
        theirs.error,
    ), arguments
    return theirs


def command(kind: str, url: str, *arguments: str) -> list[str]:
    program = ctl_command() if kind == "keyraft" else ["etcdctl"]
    return [*program, "--endpoints", url, *arguments]


def start(
    kind: str, url: str, *arguments: str, **options: object
) -> tuple[subprocess.Popen, Reader, Reader]:
    process = spawn(
        command(kind, url, *arguments),
        env={"ETCDCTL_API": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **options,
    )
    assert process.stdout is not None and process.stderr is not None
    return process, Reader(process.stdout.fileno()), Reader(process.stderr.fileno())


def interrupted(process: subprocess.Popen, out: Reader, err: Reader) -> tuple[int, str, str]:
    """Ctrl-C, then (exit status, all stdout, stderr without etcdctl's log lines)."""
    process.send_signal(signal.SIGINT)
    code = process.wait(15)
    out.pump(0.1)
    err.pump(0.1)
    errors = re.sub(r'\{"level":"warn".*\n', "", err.data.decode())
    return code, out.data.decode(), errors


def test_argument_errors_and_commands(etcd: Member, keyraft: Member) -> None:
    for arguments in (
        ("lock",),
        ("elect",),
        ("elect", "e"),
        ("elect", "-l"),
        ("elect", "a", "b", "c"),
        ("elect", "-l", "a", "b"),
        ("lock", "ctl-lock", "--", "sh", "-c", 'echo "$ETCD_LOCK_KEY R=$ETCD_LOCK_REV"'),
        ("lock", "ctl-lock", "--", "sh", "-c", "exit 3"),
        ("lock", "--ttl", "5", "ctl-lock", "no-such-program"),
        ("lock", "ctl-lock", "/no/such/program"),
        ("get", "--prefix", "ctl-lock"),
    ):
        both(etcd, keyraft, *arguments)


def hold(kind: str, url: str, *arguments: str) -> tuple[subprocess.Popen, Reader, Reader]:
    """Start a lock or campaign and wait until it holds (it printed key and value)."""
    process, out, err = start(kind, url, *arguments)
    out.wait_for(b"\n", count=2)
    return process, out, err


def test_lock_held_until_interrupted_and_waiter_canceled(etcd: Member, keyraft: Member) -> None:
    outcomes = []
    for kind, member in (("etcd", etcd), ("keyraft", keyraft)):
        url = member.client_url
        holder = hold(kind, url, "lock", "ctl-held")
        waiter = start(kind, url, "lock", "ctl-held")
        try:
            wait_for_keys(url, "ctl-held/", 2)
            outcomes.append([interrupted(*waiter), interrupted(*holder)])
        finally:
            stop(holder[0])
            stop(waiter[0])
        assert keyraftctl(url, "get", "--prefix", "ctl-held/").text == ""
    theirs, ours = ([(code, hidden(out), err) for code, out, err in run] for run in outcomes)
    assert ours == theirs
    assert theirs[0] == (1, "", "Error: context canceled\n")
    assert theirs[1][:2] == (0, "ctl-held/LEASE\n\n")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_ctrl_c_cancels_a_waiter_started_with_sigint_ignored(etcd: Member, keyraft: Member) -> None:
    """A shell without job control starts a background command with SIGINT ignored (this
    suite, run as `make test &`, started every keyraftctl so). etcdctl still answers
    Ctrl-C; keyraftctl ignored it, and its waiter took the lock later and exited 0."""
    outcomes = []
    for kind, member in (("etcd", etcd), ("keyraft", keyraft)):
        url = member.client_url
        holder = hold(kind, url, "lock", "ctl-ignored")
        waiter = start(kind, url, "lock", "ctl-ignored", preexec_fn=_ignore_sigint)
        try:
            wait_for_keys(url, "ctl-ignored/", 2)
            outcomes.append(interrupted(*waiter))
        finally:
            stop(holder[0])
            stop(waiter[0])
    assert outcomes == [(1, "", "Error: context canceled\n")] * 2


def test_campaign_and_listen(etcd: Member, keyraft: Member) -> None:
    outcomes = []
    for kind, member in (("etcd", etcd), ("keyraft", keyraft)):
        url = member.client_url
        leader = hold(kind, url, "elect", "ctl-el", "first")
        listener, heard, heard_err = start(kind, url, "elect", "-l", "ctl-el")
        second = None
        try:
            heard.wait_for(b"first\n")
            second = start(kind, url, "elect", "ctl-el", "second")
            wait_for_keys(url, "ctl-el/", 2)
            led = interrupted(*leader)
            second[1].wait_for(b"second\n")
            heard.wait_for(b"second\n")
            outcomes.append([led, interrupted(*second), interrupted(listener, heard, heard_err)])
        finally:
            for process in (leader[0], listener, second and second[0]):
                if process is not None:
                    stop(process)
        assert keyraftctl(url, "get", "--prefix", "ctl-el/").text == ""
    theirs, ours = ([(code, hidden(out), err) for code, out, err in run] for run in outcomes)
    assert ours == theirs
    assert theirs[2] == (0, "ctl-el/LEASE\nfirst\nctl-el/LEASE\nsecond\n", "")


def wait_for_keys(url: str, prefix: str, count: int) -> None:
    """Poll until `count` keys are queued under `prefix` (the waiter joined the queue)."""
    body = {"key": b64(prefix), "range_end": b64(prefix[:-1] + "0"), "count_only": True}
    deadline = time.monotonic() + 15
    while int(httpx.post(url + "/v3/kv/range", json=body).json().get("count", 0)) < count:
        assert time.monotonic() < deadline, f"{count} keys under {prefix} never appeared"
        time.sleep(0.02)


def test_held_lock_is_kept_alive(keyraft: Member) -> None:
    """The lock's lease is renewed while it is held: its key outlives twice its TTL."""
    url = keyraft.client_url
    process, out, err = hold("keyraft", url, "lock", "--ttl", "2", "ctl-alive")
    try:
        key = out.data.split(b"\n")[0]
        lease = httpx.post(url + "/v3/kv/range", json={"key": b64(key)}).json()["kvs"][0]["lease"]
        until = time.monotonic() + 4  # watched over two TTLs: expired unless renewed
        while time.monotonic() < until:
            left = httpx.post(url + "/v3/lease/timetolive", json={"ID": lease}).json()
            assert int(left.get("TTL", -1)) > 0, "the lock's lease expired while held"
            time.sleep(0.1)
        assert interrupted(process, out, err) == (0, key.decode() + "\n\n", "")
    finally:
        stop(process)
