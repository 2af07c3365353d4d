"""A 3- or 5-member cluster behind the peer proxy, of keyraft or of real etcd.

Every member advertises a proxy port as its peer URL, so all Raft traffic crosses the
proxy and can be partitioned. Real etcd takes the same flags, which makes it a check of
the harness itself: a run against etcd that fails points at the harness, not at keyraft.
Everything started here is stopped by PID in `stop`, which is safe to call on failure.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.chaos.proxy import PeerProxy
from tests.support.servers import Member, free_port, keyraft_command, start_all

KINDS = ("keyraft", "etcd")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


@dataclass
class Cluster:
    kind: str
    members: list[Member]
    proxy: PeerProxy
    workdir: Path

    def by_name(self, name: str) -> Member:
        return next(member for member in self.members if member.name == name)

    def alive(self) -> list[Member]:
        return [m for m in self.members if m.process is not None and m.process.poll() is None]

    def start(self, timeout: float = 60.0) -> None:
        start_all(self.members, timeout)
        self._identify(timeout)

    def _identify(self, timeout: float) -> None:
        """Tell the proxy which member ID is which name, so it can attribute connections."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                listed = httpx.post(
                    self.members[0].client_url + "/v3/cluster/member/list", json={}, timeout=3
                ).json()["members"]
                if len(listed) == len(self.members) and all(m.get("name") for m in listed):
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the member list never named every member")
            time.sleep(0.1)
        for entry in listed:
            self.proxy.identify(int(entry["ID"]), entry["name"])

    def status(self, member: Member, timeout: float = 1.0) -> dict | None:
        try:
            response = httpx.post(
                member.client_url + "/v3/maintenance/status", json={}, timeout=timeout
            )
            return response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None

    def leader(self) -> Member | None:
        """The member that live members currently name as leader, if they agree."""
        ids: dict[str, Member] = {}
        named: set[str] = set()
        for member in self.alive():
            answer = self.status(member)
            if answer is None:
                continue
            ids[answer["header"]["member_id"]] = member
            if answer.get("leader"):
                named.add(answer["leader"])
        if len(named) != 1:
            return None
        return ids.get(named.pop())

    def wait_leader(self, timeout: float = 30.0) -> Member:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (leader := self.leader()) is not None:
                return leader
            time.sleep(0.1)
        raise TimeoutError(f"no agreed leader after {timeout}s")

    def stop(self) -> None:
        """Heal, resume and stop every member by PID; close the proxy. Never raises."""
        with contextlib.suppress(Exception):
            self.proxy.heal()
        for member in self.members:
            if member.process is not None and member.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    member.process.send_signal(signal.SIGCONT)
            with contextlib.suppress(Exception):
                member.stop()
        with contextlib.suppress(Exception):
            self.proxy.close()


def make_cluster(workdir: Path, size: int, kind: str = "keyraft") -> Cluster:
    """Members of `kind` (not started), each advertising a proxied peer URL."""
    if kind not in KINDS:
        raise ValueError(f"unknown server kind {kind!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    proxy = PeerProxy()
    prefix = "kr" if kind == "keyraft" else "etcd"
    names = [f"{prefix}{index + 1}" for index in range(size)]
    listen = {name: free_port() for name in names}
    advertised = {name: f"http://127.0.0.1:{proxy.listen(name, listen[name])}" for name in names}
    initial = ",".join(f"{name}={advertised[name]}" for name in names)
    members = []
    for name in names:
        client_url = f"http://127.0.0.1:{free_port()}"
        data_dir = workdir / f"{name}.{kind}"
        common = [
            "--name", name,
            "--data-dir", str(data_dir),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", f"http://127.0.0.1:{listen[name]}",
            "--initial-advertise-peer-urls", advertised[name],
            "--initial-cluster", initial,
            "--initial-cluster-token", f"chaos-{kind}",
        ]  # fmt: skip
        if kind == "keyraft":
            command = [*keyraft_command(), *common, "--log-level", "warn"]
        else:
            etcd = shutil.which("etcd") or "etcd"
            command = [etcd, *common, "--log-level", "error", "--logger", "zap"]
        members.append(Member(name, kind, command, data_dir, client_url, workdir / f"{name}.log"))
    return Cluster(kind, members, proxy, workdir)


def wal_files(member: Member) -> list[Path]:
    return sorted((member.data_dir / "member" / "wal").glob("*.wal"))
