"""A cluster behind the peer proxy, of keyraft or of real etcd, whose members can change.

Every member advertises a proxy port as its peer URL, so all Raft traffic crosses the
proxy and can be partitioned. Real etcd takes the same flags, which makes it a check of
the harness itself: a run against etcd that fails points at the harness, not at keyraft.
Members added at runtime (`tests.chaos.membership`) get a proxied peer URL too.
Everything started here is stopped by PID in `stop`, which is safe to call on failure.
`members` is only ever replaced by a new list, never changed in place, so client threads
can pick from it while the membership changes.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
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
    # Members removed at runtime: stopped with the rest, whatever state they are in.
    departed: list[Member] = field(default_factory=list)
    ids: dict[str, int] = field(default_factory=dict)  # member IDs by name
    named: int = 0

    def next_name(self) -> str:
        """A name no member of this cluster has had (a replacement gets a new one)."""
        self.named += 1
        return f"{'kr' if self.kind == 'keyraft' else 'etcd'}{self.named}"

    def proxied_peer(self, name: str) -> tuple[int, str]:
        """A listen port for member `name` and the proxied peer URL it advertises."""
        listen = free_port()
        return listen, f"http://127.0.0.1:{self.proxy.listen(name, listen)}"

    def member(
        self, name: str, listen: int, advertised: str, initial: str, state: str = "new"
    ) -> Member:
        """A member (not started) listening on `listen` behind the proxy's `advertised`;
        state "existing" joins a running cluster that has already added it."""
        client_url = f"http://127.0.0.1:{free_port()}"
        data_dir = self.workdir / f"{name}.{self.kind}"
        common = [
            "--name", name,
            "--data-dir", str(data_dir),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", f"http://127.0.0.1:{listen}",
            "--initial-advertise-peer-urls", advertised,
            "--initial-cluster", initial,
            "--initial-cluster-token", f"chaos-{self.kind}",
            "--initial-cluster-state", state,
        ]  # fmt: skip
        if self.kind == "keyraft":
            command = [
                *keyraft_command(),
                *common,
                "--log-level",
                os.environ.get("CHAOS_LOG_LEVEL", "warn"),
            ]
        else:
            etcd = shutil.which("etcd") or "etcd"
            command = [etcd, *common, "--log-level", "error", "--logger", "zap"]
        log_path = self.workdir / f"{name}.log"
        return Member(name, self.kind, command, data_dir, client_url, log_path)

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
            self.identify(int(entry["ID"]), entry["name"])

    def identify(self, member_id: int, name: str) -> None:
        self.ids[name] = member_id
        self.proxy.identify(member_id, name)

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
        for member in [*self.members, *self.departed]:
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
    cluster = Cluster(kind, [], PeerProxy(), workdir)
    names = [cluster.next_name() for _ in range(size)]
    ports = {name: cluster.proxied_peer(name) for name in names}
    initial = ",".join(f"{name}={ports[name][1]}" for name in names)
    cluster.members = [cluster.member(name, *ports[name], initial) for name in names]
    return cluster


def wal_files(member: Member) -> list[Path]:
    return sorted((member.data_dir / "member" / "wal").glob("*.wal"))
