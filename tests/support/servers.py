"""Start and stop real etcd and keyraft members on free loopback ports.

Every process started here is stopped by PID, also when a test fails (the fixtures call
`stop` in a finally, and an atexit hook catches anything left over).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
_RUNNING: set[subprocess.Popen] = set()


def _worker_ports(ports: range) -> range:
    """This test process's share of `ports`: under pytest-xdist each worker picks from its
    own slice, so two workers never hand out the same port."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    return ports[index::count]


# Ports below the kernel's ephemeral range (32768-60999 by default): a port the kernel
# handed out for bind(0) can be taken again as the source port of any outgoing
# connection before the server it was meant for binds it ("Address already in use").
_PORT_RANGE = _worker_ports(range(20000, 32768))
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nobody listens on and this process has not handed out before."""
    if len(_handed_out) > len(_PORT_RANGE) // 2:
        _handed_out.clear()
    start = random.randrange(len(_PORT_RANGE))
    for offset in range(len(_PORT_RANGE)):
        port = _PORT_RANGE[(start + offset) % len(_PORT_RANGE)]
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {_PORT_RANGE}")


def keyraft_command() -> list[str]:
    return [sys.executable, "-m", "keyraft.app.main"]


@dataclass
class Member:
    name: str
    kind: str
    command: list[str]
    data_dir: Path
    client_url: str
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)
    # How the tests' own client reaches an https client URL (CA, client certificate).
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    # Environment variables set for the process, beside the tests' own.
    env: dict[str, str] = field(default_factory=dict, repr=False)
    # A learner serves no linearizable read: it is ready once it serves a serializable one.
    serializable_ready: bool = False

    def post(
        self, path: str, body: dict, timeout: float = 15.0, headers: dict | None = None
    ) -> httpx.Response:
        """POST JSON to this member's client URL (over TLS with `tls` when https)."""
        return httpx.post(
            self.client_url + path,
            json=body,
            timeout=timeout,
            verify=self.tls or True,
            headers=headers,
        )

    @property
    def peer_url(self) -> str:
        """Where this member listens for its peers (the first --listen-peer-urls)."""
        return self.command[self.command.index("--listen-peer-urls") + 1].split(",")[0]

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> Member:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child until it exits
        self.process = subprocess.Popen(
            self.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
            env={**os.environ, **self.env} if self.env else None,
        )
        log.close()
        _RUNNING.add(self.process)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early:\n{self.log_tail()}")
            try:
                body = {"key": "AA==", "serializable": self.serializable_ready}
                response = self.post("/v3/kv/range", body, timeout=1.0)
                # with auth enabled, a range without a token is refused once it is served
                if response.status_code == 200 or b"user name is empty" in response.content:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.kind} not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        _RUNNING.discard(process)
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


PROGRAM_FLAGS = {
    "etcd": ("--log-level", "error", "--logger", "zap"),
    "keyraft": ("--log-level", "info"),
}


@dataclass(frozen=True)
class Schemes:
    """The URL schemes of a cluster's client and peer ports, and the context the tests'
    client reaches https client URLs with."""

    client: str = "http"
    peer: str = "http"
    client_tls: ssl.SSLContext | None = None


def _members(
    kind: str,
    workdir: Path,
    names: list[str],
    extra: tuple[str, ...] = (),
    token: str = "test-cluster",
    schemes: Schemes = Schemes(),
) -> list[Member]:
    """Members of one cluster (not started), each on its own free client and peer port."""
    clients = {name: f"{schemes.client}://127.0.0.1:{free_port()}" for name in names}
    peers = {name: f"{schemes.peer}://127.0.0.1:{free_port()}" for name in names}
    initial = ",".join(f"{name}={peers[name]}" for name in names)
    program = [shutil.which("etcd") or "etcd"] if kind == "etcd" else keyraft_command()
    members = []
    for name in names:
        data_dir = workdir / f"{name}.{kind}"
        command = [
            *program,
            "--name", name,
            "--data-dir", str(data_dir),
            "--listen-client-urls", clients[name],
            "--advertise-client-urls", clients[name],
            "--listen-peer-urls", peers[name],
            "--initial-advertise-peer-urls", peers[name],
            "--initial-cluster", initial,
            "--initial-cluster-token", token,
            *PROGRAM_FLAGS[kind],
            *extra,
        ]  # fmt: skip
        log_path = workdir / f"{name}.log"
        member = Member(name, kind, command, data_dir, clients[name], log_path)
        member.tls = schemes.client_tls
        members.append(member)
    return members


def etcd_member(workdir: Path, name: str = "etcd1", extra: tuple[str, ...] = ()) -> Member:
    return _members("etcd", workdir, [name], extra)[0]


def keyraft_member(
    workdir: Path, name: str = "kr1", extra: tuple[str, ...] = (), schemes: Schemes = Schemes()
) -> Member:
    return _members("keyraft", workdir, [name], extra, schemes=schemes)[0]


def joining_member(
    workdir: Path, name: str, peer_url: str, initial_cluster: str, extra: tuple[str, ...] = ()
) -> Member:
    """A keyraft member (not started) joining a running cluster at `peer_url`, with the
    --initial-cluster that `member add` printed."""
    client = f"http://127.0.0.1:{free_port()}"
    command = [
        *keyraft_command(),
        "--name", name,
        "--data-dir", str(workdir / f"{name}.keyraft"),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer_url,
        "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", initial_cluster,
        "--initial-cluster-state", "existing",
        *PROGRAM_FLAGS["keyraft"],
        *extra,
    ]  # fmt: skip
    return Member(
        name, "keyraft", command, workdir / f"{name}.keyraft", client, workdir / f"{name}.log"
    )


def initial_cluster(members: list[dict], new_id: object, name: str) -> str:
    """The --initial-cluster a member added as `new_id` starts with, from the member list
    a `member add` answered (etcdctl prints the same): the new member under `name`, the
    others under their own names."""
    return ",".join(
        f"{name if m['ID'] == new_id else m.get('name', '')}={url}"
        for m in members
        for url in m["peerURLs"]
    )


def keyraft_cluster(
    workdir: Path,
    size: int,
    extra: tuple[str, ...] = (),
    token: str = "test-cluster",
    schemes: Schemes = Schemes(),
) -> list[Member]:
    names = [f"kr{index + 1}" for index in range(size)]
    return _members("keyraft", workdir, names, extra, token, schemes)


def etcd_cluster(workdir: Path, size: int) -> list[Member]:
    return _members("etcd", workdir, [f"etcd{index + 1}" for index in range(size)])


def find_leader(members: list[Member], timeout: float = 30.0) -> Member:
    """The member every given member names as leader (polls until they agree)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            answers = [
                member.post("/v3/maintenance/status", {}, timeout=3).json() for member in members
            ]
        except httpx.HTTPError:
            answers = []
        leaders = {answer.get("leader") for answer in answers}
        if answers and len(leaders) == 1 and None not in leaders:
            (leader,) = leaders
            for member, answer in zip(members, answers, strict=True):
                if answer["header"]["member_id"] == leader:
                    return member
        time.sleep(0.05)
    raise TimeoutError("the members agreed on no leader")


def etcd_available() -> bool:
    return shutil.which("etcd") is not None


# A test run stopped by SIGTERM (a CI timeout, a killed job) unwinds as on Ctrl-C, so every
# `finally` and the hook below still stop the servers it started.
if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
    with contextlib.suppress(ValueError):  # only the main thread may set it
        signal.signal(signal.SIGTERM, signal.default_int_handler)


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_RUNNING):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def start_all(members: list[Member], timeout: float = 60.0) -> None:
    """Start members together (a new cluster needs a quorum before any is ready)."""
    for member in members:
        log = open(member.log_path, "ab")  # noqa: SIM115
        member.process = subprocess.Popen(
            member.command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
        )
        log.close()
        _RUNNING.add(member.process)
    for member in members:
        member.wait_ready(timeout)


@contextlib.contextmanager
def started(members: list[Member]) -> Iterator[list[Member]]:
    """Start the members together; stop every one of them however the block ends."""
    try:
        start_all(members)
        yield members
    finally:
        for member in members:
            member.stop()
