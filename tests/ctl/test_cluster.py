"""Against a three-member etcd cluster: a watch outlives the member it was reading from,
and `--cluster` flags reach every member."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from tests.ctl.cluster import etcd_cluster
from tests.ctl.support import Reader, ctl_command, etcdctl, keyraftctl, spawn, stop
from tests.support.servers import Member, started


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, etcd: Member) -> Iterator[list[Member]]:
    with started(etcd_cluster(tmp_path_factory.mktemp("ctl-cluster"))) as members:
        yield members


def test_endpoint_commands_with_cluster_flag(cluster: list[Member]) -> None:
    first = cluster[0].client_url
    ours = keyraftctl(first, "endpoint", "status", "--cluster")
    theirs = etcdctl(first, "endpoint", "status", "--cluster")
    assert ours.code == theirs.code == 0
    # raft indexes move between the two runs; the endpoints, ids and roles do not
    columns = lambda text: sorted(",".join(line.split(", ")[:6]) for line in text.splitlines())  # noqa: E731
    assert columns(ours.text) == columns(theirs.text)
    health = keyraftctl(first, "endpoint", "health", "--cluster")
    assert health.code == 0
    assert sorted(line.split(" is ")[0] for line in health.error.splitlines()) == sorted(
        member.client_url for member in cluster
    )
    assert len(keyraftctl(first, "member", "list").text.splitlines()) == 3


def test_watch_resumes_on_another_endpoint(cluster: list[Member]) -> None:
    # Kill a follower: the point is the watch's endpoint dying, not a re-election under load.
    status = keyraftctl(cluster[0].client_url, "endpoint", "status", "--cluster").text
    leaders = {line.split(", ")[0] for line in status.splitlines() if line.split(", ")[4] == "true"}
    followers = [member for member in cluster if member.client_url not in leaders]
    victim, survivor = followers[0], followers[1]
    ordered = [victim, *[member for member in cluster if member is not victim]]
    endpoints = ",".join(member.client_url for member in ordered)
    start = keyraftctl(survivor.client_url, "-w", "json", "put", "rw/k", "v1").text
    revision = start.split('"revision":')[1].split(",")[0]
    process = spawn(
        [*ctl_command(), "--endpoints", endpoints, "watch", "rw/", "--prefix", "--rev", revision],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    reader = Reader(process.stdout.fileno())
    try:
        reader.wait_for(b"rw/k\nv1\n")
        victim.kill()
        for value in ("v2", "v3"):
            put = keyraftctl(survivor.client_url, "--command-timeout", "20s", "put", "rw/k", value)
            assert put.code == 0, put.error
        data = reader.wait_for(b"rw/k\nv3\n")
    finally:
        stop(process)
    assert data == b"PUT\nrw/k\nv1\nPUT\nrw/k\nv2\nPUT\nrw/k\nv3\n"
    # and plain commands keep going through the remaining endpoints
    assert keyraftctl(endpoints, "get", "rw/k").text == "rw/k\nv3\n"
    unhealthy = keyraftctl(endpoints, "endpoint", "health")
    assert unhealthy.code == 1
    assert f"{victim.client_url} is unhealthy" in unhealthy.error
    assert unhealthy.error.endswith("Error: unhealthy cluster\n")
