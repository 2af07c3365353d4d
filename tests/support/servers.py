"""Start and stop real etcd and keyraft members on free loopback ports.

Every process started here is stopped by PID, also when a test fails (the fixtures call
`stop` in a finally, and an atexit hook catches anything left over).
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
_RUNNING: set[subprocess.Popen] = set()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def keyraft_command() -> list[str]:
    return [sys.executable, "-m", "app.main"]


@dataclass
class Member:
    name: str
    kind: str
    command: list[str]
    data_dir: Path
    client_url: str
    log_path: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> Member:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child until it exits
        self.process = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True
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
                response = httpx.post(
                    f"{self.client_url}/v3/kv/range", json={"key": "AA=="}, timeout=1.0
                )
                if response.status_code == 200:
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


def etcd_member(workdir: Path, name: str = "etcd1") -> Member:
    client, peer = free_port(), free_port()
    data_dir = workdir / f"{name}.etcd"
    client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    command = [
        shutil.which("etcd") or "etcd",
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-client-urls", client_url,
        "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url,
        "--initial-advertise-peer-urls", peer_url,
        "--initial-cluster", f"{name}={peer_url}",
        "--log-level", "error",
        "--logger", "zap",
    ]  # fmt: skip
    return Member(name, "etcd", command, data_dir, client_url, workdir / f"{name}.log")


def keyraft_member(workdir: Path, name: str = "kr1", extra: tuple[str, ...] = ()) -> Member:
    client, peer = free_port(), free_port()
    data_dir = workdir / f"{name}.keyraft"
    client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    command = [
        *keyraft_command(),
        "--name", name,
        "--data-dir", str(data_dir),
        "--listen-client-urls", client_url,
        "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url,
        "--initial-advertise-peer-urls", peer_url,
        "--log-level", "warn",
        *extra,
    ]  # fmt: skip
    return Member(name, "keyraft", command, data_dir, client_url, workdir / f"{name}.log")


def etcd_available() -> bool:
    return shutil.which("etcd") is not None


@atexit.register
def _stop_leftovers() -> None:
    for process in list(_RUNNING):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)


def keyraft_cluster(
    workdir: Path, size: int, extra: tuple[str, ...] = (), token: str = "test-cluster"
) -> list[Member]:
    """`size` keyraft members that know each other (not started)."""
    names = [f"kr{index + 1}" for index in range(size)]
    clients = {name: f"http://127.0.0.1:{free_port()}" for name in names}
    peers = {name: f"http://127.0.0.1:{free_port()}" for name in names}
    initial = ",".join(f"{name}={peers[name]}" for name in names)
    members = []
    for name in names:
        command = [
            *keyraft_command(),
            "--name", name,
            "--data-dir", str(workdir / f"{name}.keyraft"),
            "--listen-client-urls", clients[name],
            "--advertise-client-urls", clients[name],
            "--listen-peer-urls", peers[name],
            "--initial-advertise-peer-urls", peers[name],
            "--initial-cluster", initial,
            "--initial-cluster-token", token,
            "--log-level", "info",
            *extra,
        ]  # fmt: skip
        members.append(
            Member(
                name,
                "keyraft",
                command,
                workdir / f"{name}.keyraft",
                clients[name],
                workdir / f"{name}.log",
            )
        )
    return members


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


def etcd_cluster(workdir: Path, size: int) -> list[Member]:
    """`size` real etcd members that know each other (not started)."""
    names = [f"etcd{index + 1}" for index in range(size)]
    clients = {name: f"http://127.0.0.1:{free_port()}" for name in names}
    peers = {name: f"http://127.0.0.1:{free_port()}" for name in names}
    initial = ",".join(f"{name}={peers[name]}" for name in names)
    members = []
    for name in names:
        command = [
            shutil.which("etcd") or "etcd",
            "--name", name,
            "--data-dir", str(workdir / f"{name}.etcd"),
            "--listen-client-urls", clients[name],
            "--advertise-client-urls", clients[name],
            "--listen-peer-urls", peers[name],
            "--initial-advertise-peer-urls", peers[name],
            "--initial-cluster", initial,
            "--initial-cluster-token", "etcd-test",
            "--log-level", "error",
            "--logger", "zap",
        ]  # fmt: skip
        members.append(
            Member(
                name,
                "etcd",
                command,
                workdir / f"{name}.etcd",
                clients[name],
                workdir / f"{name}.log",
            )
        )
    return members
