"""A local 3-member keyraft cluster, as etcd's Procfile runs one with goreman.

    python deploy/local_cluster.py [--size 3] [--data-root ./cluster.keyraft]

Members listen on 127.0.0.1: clients on 2379, 22379, 32379 and peers on 2380, 22380,
32380 (etcd's Procfile ports). Ctrl-C stops every member.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

CLIENT_PORTS = [2379, 22379, 32379, 42379, 52379]
PEER_PORTS = [2380, 22380, 32380, 42380, 52380]


def commands(size: int, data_root: Path) -> list[list[str]]:
    names = [f"infra{index + 1}" for index in range(size)]
    peers = {name: f"http://127.0.0.1:{PEER_PORTS[index]}" for index, name in enumerate(names)}
    initial = ",".join(f"{name}={url}" for name, url in peers.items())
    result = []
    for index, name in enumerate(names):
        client = f"http://127.0.0.1:{CLIENT_PORTS[index]}"
        result.append([
            sys.executable, "-m", "keyraft.app.main",
            "--name", name,
            "--data-dir", str(data_root / f"{name}.keyraft"),
            "--listen-client-urls", client,
            "--advertise-client-urls", client,
            "--listen-peer-urls", peers[name],
            "--initial-advertise-peer-urls", peers[name],
            "--initial-cluster", initial,
            "--initial-cluster-token", "local-cluster",
        ])  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=3, choices=[1, 3, 5])
    parser.add_argument("--data-root", type=Path, default=Path("cluster.keyraft"))
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    processes = [
        subprocess.Popen(command, cwd=root) for command in commands(args.size, args.data_root)
    ]
    endpoints = ",".join(f"http://127.0.0.1:{port}" for port in CLIENT_PORTS[: args.size])
    print(f"keyraft cluster of {args.size}: endpoints {endpoints}", flush=True)
    print(f"try: keyraftctl --endpoints {endpoints} member list", flush=True)
    stopping = False

    def stop(*_args: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(process.poll() is None for process in processes):
            time.sleep(0.2)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        print("cluster stopped", flush=True)


if __name__ == "__main__":
    main()
