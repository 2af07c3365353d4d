"""The StatefulSet entrypoint against real servers: pods are local processes whose DNS
names map to loopback ports, their volumes folders, the desired replicas a file (where
the API server would answer). One scenario walks a cluster's life: bootstrap, scale up,
restart, lost volume, scale down, scale up onto a stale volume.

The binary the entrypoint execs is a parameter: the default run walks the life on keyraft
(about 30 s); `K8S_TEST_SERVERS=keyraft,etcd` also walks it on real etcd, which answers the
entrypoint's membership calls alike (the entrypoint was first built against it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import Member, etcd_available, free_port

pytestmark = pytest.mark.skipif(not etcd_available(), reason="needs etcd")

FAST_RAFT = ("--heartbeat-interval", "50", "--election-timeout", "500")


SERVERS = {"etcd": "etcd", "keyraft": str(Path(sys.executable).parent / "keyraft")}
LIFECYCLE = os.environ.get("K8S_TEST_SERVERS", "keyraft").split(",")


class PodSet:
    """A StatefulSet `kv` in namespace `test`, played by local processes."""

    def __init__(self, root: Path, server: str) -> None:
        self.root, self.server = root, server
        self.replicas_file = root / "replicas"
        self.ports: dict[int, tuple[int, int]] = {}
        self.pods: dict[int, Member] = {}

    def address_map(self, count: int) -> dict[str, str]:
        for ordinal in range(count):
            self.ports.setdefault(ordinal, (free_port(), free_port()))
        mapping = {}
        for ordinal, (client, peer) in self.ports.items():
            host = f"kv-{ordinal}.kv-peer.test.svc"
            mapping[f"{host}:2379"] = f"127.0.0.1:{client}"
            mapping[f"{host}:2380"] = f"127.0.0.1:{peer}"
        return mapping

    def command(self, ordinal: int, verb: str, *args: str) -> list[str]:
        env = {
            "HOSTNAME": f"kv-{ordinal}",
            "POD_NAMESPACE": "test",
            "KEYRAFT_K8S_SERVICE": "kv-peer",
            "KEYRAFT_K8S_INITIAL_SIZE": "3",
            "KEYRAFT_K8S_VOLUME": str(self.volume(ordinal)),
            "KEYRAFT_K8S_LISTEN_HOST": "127.0.0.1",
            "KEYRAFT_K8S_ADDRESS_MAP": json.dumps(self.address_map(max(8, ordinal + 1))),
            "KEYRAFT_K8S_REPLICAS_FROM": f"file:{self.replicas_file}",
        }
        python = [sys.executable, "-m", "keyraft.app.k8s", verb, *args]
        return ["env", *(f"{k}={v}" for k, v in env.items()), *python]

    def volume(self, ordinal: int) -> Path:
        return self.root / f"kv-{ordinal}"

    def client_url(self, ordinal: int) -> str:
        return f"http://127.0.0.1:{self.ports[ordinal][0]}"

    def start(self, *ordinals: int) -> None:
        for ordinal in ordinals:
            command = self.command(ordinal, "start", "--server", self.server, "--", *FAST_RAFT)
            pod = Member(
                f"kv-{ordinal}",
                self.server,
                command,
                self.volume(ordinal) / "data",
                self.client_url(ordinal),
                self.root / f"kv-{ordinal}.log",
            )
            log = open(pod.log_path, "ab")  # noqa: SIM115 - the child owns it
            pod.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
            self.pods[ordinal] = pod

    def pre_stop(self, ordinal: int) -> str:
        done = subprocess.run(
            self.command(ordinal, "pre-stop"), capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    def stop(self, ordinal: int) -> None:
        self.pods.pop(ordinal).stop()

    def stop_all(self) -> None:
        """Kill every pod (an etcd leader stopping gracefully tries to hand its leadership to
        peers that are stopping too, for seconds); the volumes are thrown away anyway."""
        for ordinal in list(self.pods):
            self.pods.pop(ordinal).kill()

    def log_tails(self) -> str:
        return "\n".join(pod.log_tail(8) for pod in self.pods.values())

    def members(self, via: int) -> list[dict]:
        answer = httpx.post(self.client_url(via) + "/v3/cluster/member/list", json={}, timeout=2)
        return answer.json()["members"]

    def wait_voters(
        self, via: int, names: set[str], replaced: tuple[str, str] = ("", ""), timeout: float = 30.0
    ) -> dict[str, str]:
        """Poll until exactly `names` are voting members (`replaced`: (name, old ID) gone)."""
        deadline = time.monotonic() + timeout
        seen: object = None
        while time.monotonic() < deadline:
            for ordinal, pod in self.pods.items():
                if pod.process is not None and pod.process.poll() is not None:
                    raise AssertionError(f"kv-{ordinal} exited:\n{pod.log_tail()}")
            try:
                seen = self.members(via)
            except (httpx.HTTPError, KeyError, ValueError):
                seen = None
            if (
                seen
                and {m.get("name") for m in seen} == names
                and not any(m.get("isLearner") for m in seen)
            ):
                return {m["name"]: m["ID"] for m in seen}
            time.sleep(0.1)
        raise AssertionError(f"members never became {names}: {seen}\n{self.log_tails()}")

    def put(self, via: int, key: str, value: str) -> None:
        body = {"key": _b64(key), "value": _b64(value)}
        assert (
            httpx.post(self.client_url(via) + "/v3/kv/put", json=body, timeout=5).status_code == 200
        )

    def local_value(self, via: int, key: str) -> str | None:
        body = {"key": _b64(key), "serializable": True}
        kvs = httpx.post(self.client_url(via) + "/v3/kv/range", json=body, timeout=5).json()
        return _unb64(kvs["kvs"][0]["value"]) if kvs.get("kvs") else None

    def wait_value(self, via: int, key: str, value: str, timeout: float = 10.0) -> None:
        """Poll until pod `via` serves `value` for `key` from its own data; else fail with
        what it answered last and every pod's log tail."""
        deadline = time.monotonic() + timeout
        seen: object = None
        while time.monotonic() < deadline:
            try:
                seen = self.local_value(via, key)
            except (httpx.HTTPError, KeyError, ValueError) as error:
                seen = error
            if seen == value:
                return
            time.sleep(0.1)
        raise AssertionError(
            f"kv-{via} never served {key}={value!r}, last: {seen!r}\n{self.log_tails()}"
        )


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def _unb64(text: str) -> str:
    import base64

    return base64.b64decode(text).decode()


@pytest.fixture
def pods(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[PodSet]:
    pod_set = PodSet(tmp_path, SERVERS[request.param])
    try:
        yield pod_set
    finally:
        pod_set.stop_all()


def names(*ordinals: int) -> set[str]:
    return {f"kv-{i}" for i in ordinals}


def bootstrap(pods: PodSet) -> dict[str, str]:
    """A fresh cluster: the three initial pods start together; their member IDs."""
    pods.replicas_file.write_text("3")
    pods.start(0, 1, 2)
    first = pods.wait_voters(0, names(0, 1, 2))
    pods.put(0, "k", "before scale up")
    return first


@pytest.mark.parametrize("pods", LIFECYCLE, indirect=True)
def test_a_statefulset_lifecycle(pods: PodSet) -> None:
    first = bootstrap(pods)

    pods.replicas_file.write_text("5")  # kubectl scale --replicas=5: two pods at once, and
    pods.start(3, 4)  # etcd takes one learner at a time: the second waits its turn
    pods.wait_voters(0, names(0, 1, 2, 3, 4))
    pods.wait_value(4, "k", "before scale up")

    pods.stop(1)  # a restart keeps the volume: the same member comes back
    assert "keep" in pods.pre_stop(1)
    pods.start(1)
    pods.wait_value(1, "k", "before scale up")
    assert pods.wait_voters(0, names(0, 1, 2, 3, 4))["kv-1"] == first["kv-1"]

    pods.stop(2)  # the volume is lost: the stale entry is replaced
    shutil.rmtree(pods.volume(2))
    pods.start(2)
    pods.wait_voters(0, names(0, 1, 2, 3, 4), replaced=("kv-2", first["kv-2"]))
    pods.wait_value(2, "k", "before scale up")

    pods.replicas_file.write_text("3")  # kubectl scale --replicas=3: the preStop hooks
    for retired in (4, 3):
        assert "leave" in pods.pre_stop(retired)
        pods.stop(retired)
    pods.wait_voters(0, names(0, 1, 2))

    pods.replicas_file.write_text("4")  # scaled up again onto the volume kept by the scale-down
    pods.start(3)
    pods.wait_voters(0, names(0, 1, 2, 3))
    pods.wait_value(3, "k", "before scale up")
