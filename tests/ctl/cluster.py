"""A three-member real etcd cluster, for what needs a member to die while others serve."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support.servers import Member, free_port


def etcd_cluster(workdir: Path, size: int = 3) -> list[Member]:
    names = [f"m{index}" for index in range(1, size + 1)]
    peers = {name: f"http://127.0.0.1:{free_port()}" for name in names}
    initial = ",".join(f"{name}={url}" for name, url in peers.items())
    members = []
    for name in names:
        client = f"http://127.0.0.1:{free_port()}"
        command = [
            shutil.which("etcd") or "etcd", "--name", name,
            "--data-dir", str(workdir / f"{name}.etcd"),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peers[name], "--initial-advertise-peer-urls", peers[name],
            "--initial-cluster", initial, "--initial-cluster-token", f"ctl-{workdir.name}",
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--log-level", "error", "--logger", "zap",
        ]  # fmt: skip
        members.append(
            Member(name, "etcd", command, workdir / f"{name}.etcd", client, workdir / f"{name}.log")
        )
    return members


def start_all(members: list[Member]) -> None:
    """Members only become ready together (a lone member has no quorum)."""
    with ThreadPoolExecutor(len(members)) as pool:
        for future in [pool.submit(member.start, 60.0) for member in members]:
            future.result()
