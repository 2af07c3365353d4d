"""`txn -i` and `watch` driven like a person would: through a terminal, until interrupted."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.ctl.support import Reader, ctl_command, etcdctl, keyraftctl, spawn, stop
from tests.support.servers import Member


def test_txn_interactive_through_a_terminal(server: Member) -> None:
    assert keyraftctl(server.client_url, "put", "pty/k", "old").code == 0
    master, slave = os.openpty()
    process = spawn(
        [*ctl_command(), "--endpoints", server.client_url, "txn", "-i"],
        stdin=slave, stdout=slave, stderr=slave,
    )  # fmt: skip
    os.close(slave)
    reader = Reader(master)
    try:
        reader.wait_for(b"compares:")
        os.write(master, b'value("pty/k") = "old"\n\n')
        reader.wait_for(b"success requests (get, put, del):")
        os.write(master, b"put pty/k new\n\n")
        reader.wait_for(b"failure requests (get, put, del):")
        os.write(master, b"get pty/k\n\n")
        reader.wait_for(b"SUCCESS")
        assert process.wait(15) == 0
        reader.pump(0.1)
    finally:
        stop(process)
        os.close(master)
    assert reader.data.replace(b"\r\n", b"\n").endswith(b"SUCCESS\n\nOK\n")
    assert keyraftctl(server.client_url, "get", "pty/k").text == "pty/k\nnew\n"


def _watch(command: list[str]) -> tuple[subprocess.Popen, Reader]:
    process = spawn(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    return process, Reader(process.stdout.fileno())


@pytest.mark.parametrize("output", ["simple", "json", "fields"])
def test_watch_prints_what_etcdctl_prints(etcd: Member, output: str) -> None:
    prefix = f"watch/{output}/"
    first = keyraftctl(etcd.client_url, "-w", "json", "put", prefix + "a", "1")
    revision = int(first.text.split('"revision":')[1].split(",")[0])
    keyraftctl(etcd.client_url, "put", prefix + "a", "2")
    keyraftctl(etcd.client_url, "del", prefix + "a")
    keyraftctl(etcd.client_url, "txn", stdin=f"\nput {prefix}b x\nput {prefix}c y\n\n\n".encode())
    arguments = ["watch", prefix, "--prefix", "--prev-kv", "--rev", str(revision), "-w", output]
    ours, our_reader = _watch([*ctl_command(), "--endpoints", etcd.client_url, *arguments])
    theirs, their_reader = _watch(["etcdctl", "--endpoints", etcd.client_url, *arguments])
    marker = {"simple": b"\ny\n", "json": b'"eQ=="', "fields": b'"Value" : "y"'}[output]
    count = 1
    try:
        our_reader.wait_for(marker, count=count)
        expected = their_reader.wait_for(marker, count=count)
        lines = max(expected.count(b"\n"), our_reader.data.count(b"\n"))
        expected = their_reader.wait_for(b"\n", count=lines)
        assert our_reader.wait_for(b"\n", count=lines) == expected
    finally:
        stop(ours)
        stop(theirs)


def test_watch_on_keyraft_prints_what_etcdctl_prints_on_etcd(etcd: Member, keyraft: Member) -> None:
    """The same history on both servers: keyraftctl watching keyraft prints what etcdctl
    prints watching etcd."""
    prefix = "watch/kr/"
    readers = []
    processes = []
    try:
        for member, program in ((keyraft, ctl_command()), (etcd, ["etcdctl"])):
            first = keyraftctl(member.client_url, "-w", "json", "put", prefix + "a", "1")
            revision = int(first.text.split('"revision":')[1].split(",")[0])
            keyraftctl(member.client_url, "put", prefix + "a", "2")
            keyraftctl(member.client_url, "del", prefix + "a")
            keyraftctl(
                member.client_url, "txn", stdin=f"\nput {prefix}b x\nput {prefix}c y\n\n\n".encode()
            )
            arguments = ["watch", prefix, "--prefix", "--prev-kv", "--rev", str(revision)]
            process, reader = _watch([*program, "--endpoints", member.client_url, *arguments])
            processes.append(process)
            readers.append(reader)
        ours, theirs = readers
        expected = theirs.wait_for(b"\ny\n", count=1)
        assert ours.wait_for(b"\ny\n", count=1) == expected
    finally:
        for process in processes:
            stop(process)


def test_watch_interrupted_exits_quietly(etcd: Member) -> None:
    process, reader = _watch([*ctl_command(), "--endpoints", etcd.client_url, "watch", "watch/int"])
    try:
        keyraftctl(etcd.client_url, "put", "watch/int", "1")
        while b"watch/int" not in reader.data:  # the watch may start after the first put
            keyraftctl(etcd.client_url, "put", "watch/int", "again")
            reader.pump(0.5)
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
        assert process.stderr is not None and b"Traceback" not in process.stderr.read()
    finally:
        stop(process)


def test_watch_interactive_reads_watch_lines(etcd: Member) -> None:
    revision = keyraftctl(etcd.client_url, "-w", "json", "put", "wi/one", "1").text
    start = revision.split('"revision":')[1].split(",")[0]
    keyraftctl(etcd.client_url, "put", "wi/two", "2")
    process = spawn(
        [*ctl_command(), "--endpoints", etcd.client_url, "watch", "-i"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    reader = Reader(process.stdout.fileno())
    try:
        process.stdin.write(f"watch wi/one --rev {start}\nwatch wi/two --rev={start}\n".encode())
        process.stdin.flush()
        reader.wait_for(b"PUT\nwi/one\n1\n")
        data = reader.wait_for(b"PUT\nwi/two\n2\n")
        assert b"PUT\nwi/one\n1\n" in data and b"PUT\nwi/two\n2\n" in data
    finally:
        stop(process)


def test_compacted_watch_says_so(etcd: Member) -> None:
    revision = int(
        keyraftctl(etcd.client_url, "-w", "json", "put", "wc/k", "1")
        .text.split('"revision":')[1]
        .split(",")[0]
    )
    keyraftctl(etcd.client_url, "put", "wc/k", "2")
    assert keyraftctl(etcd.client_url, "compaction", str(revision + 1)).code == 0
    arguments = ("watch", "wc/k", "--rev", str(revision))
    result = keyraftctl(etcd.client_url, *arguments, timeout=15)
    assert result == etcdctl(etcd.client_url, *arguments, timeout=15)
    assert result.code == 5 and "required revision has been compacted" in result.error
    assert etcdctl(etcd.client_url, "get", "wc/k").text == "wc/k\n2\n"
