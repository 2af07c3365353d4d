"""Changing a running chaos cluster's members: add (as a voter, or as a learner that is
then promoted), remove, replace.

Each change is asked of the leader, as etcdctl would, and retried until it is answered:
etcd's strict reconfiguration check refuses a change while a voter has not been connected
for a health interval ("unhealthy cluster") or too few are started, and a fault can lose
the answer to a change that did take effect, so after any failure the member list is
consulted before asking again. Raft takes one conf change at a time; so do these helpers.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import httpx

from tests.chaos.harness import Cluster
from tests.support.servers import Member, initial_cluster

CHANGE_TIMEOUT_S = 60.0
START_TIMEOUT_S = 60.0
EXIT_TIMEOUT_S = 30.0
RETRY_S = 0.3


def member_list(cluster: Cluster) -> list[dict] | None:
    """The member list as the first current member that answers knows it."""
    for member in cluster.alive():
        try:
            response = member.post("/v3/cluster/member/list", {}, timeout=3)
        except httpx.HTTPError:
            continue
        if response.status_code == 200:
            return response.json().get("members", [])
    return None


def reconfigure(
    cluster: Cluster, path: str, body: dict, settled: Callable[[list[dict]], bool]
) -> dict | None:
    """POST a membership change to the leader until it is answered (its answer) or the
    member list shows that it took effect (None)."""
    deadline = time.monotonic() + CHANGE_TIMEOUT_S
    last = ""
    while True:
        try:
            leader = cluster.wait_leader(timeout=max(1.0, deadline - time.monotonic()))
            response = leader.post(path, body, timeout=10)
            if response.status_code == 200:
                return response.json()
            last = response.text
        except (httpx.HTTPError, TimeoutError) as error:
            last = repr(error)
        listed = member_list(cluster)
        if listed is not None and settled(listed):
            return None
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} {body} not done after {CHANGE_TIMEOUT_S}s: {last}")
        time.sleep(RETRY_S)


def _entry(listed: list[dict], member_id: int) -> dict | None:
    return next((m for m in listed if int(m["ID"]) == member_id), None)


def add_member(cluster: Cluster, learner: bool = False) -> Member:
    """Add a fresh member under a new name, start it, and (a learner) promote it.

    It joins the current members' list once it serves requests, so clients reach it."""
    name = cluster.next_name()
    listen, advertised = cluster.proxied_peer(name)
    answer = reconfigure(
        cluster,
        "/v3/cluster/member/add",
        {"peerURLs": [advertised], "isLearner": learner},
        lambda listed: any(advertised in m["peerURLs"] for m in listed),
    )
    listed = answer["members"] if answer is not None else member_list(cluster) or []
    new_id = next(m["ID"] for m in listed if advertised in m["peerURLs"])
    cluster.identify(int(new_id), name)
    initial = initial_cluster(listed, new_id, name)
    member = cluster.member(name, listen, advertised, initial, state="existing")
    member.serializable_ready = learner  # a learner serves no linearizable read
    try:
        member.start(START_TIMEOUT_S)
    finally:
        cluster.members = [*cluster.members, member]
    if learner:
        promote(cluster, int(new_id))
        member.serializable_ready = False
    return member


def promote(cluster: Cluster, member_id: int) -> None:
    """Promote a learner, retried while it is not yet in sync with the leader."""

    def settled(listed: list[dict]) -> bool:
        entry = _entry(listed, member_id)
        return entry is not None and not entry.get("isLearner")

    reconfigure(cluster, "/v3/cluster/member/promote", {"ID": member_id}, settled)


def remove_member(cluster: Cluster, member: Member, cut: bool = False) -> None:
    """Remove `member` and wait until its process (if any) exits: a removed member must
    stop by itself. A member that is up stays among those clients pick until the removal
    is answered (it may be the leader, whom the request goes to); one `cut` off by the
    proxy is left out at once, and the cut is healed once it is removed: it must learn of
    its removal from its peers. It ends in `departed`, to be stopped at the end."""
    member_id = cluster.ids[member.name]
    if cut:
        _depart(cluster, member)
    reconfigure(
        cluster,
        "/v3/cluster/member/remove",
        {"ID": member_id},
        lambda listed: _entry(listed, member_id) is None,
    )
    _depart(cluster, member)
    if cut:
        cluster.proxy.heal()
    process = member.process
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    removed_at = time.strftime("%H:%M:%S")
    while process is not None and process.poll() is None:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{member.name} still runs {EXIT_TIMEOUT_S:g}s after its removal (answered at"
                f" {removed_at}); its log ends:"
                f"\n{member.log_tail(40)}"
            )
        time.sleep(0.1)
    member.stop()


def _depart(cluster: Cluster, member: Member) -> None:
    if member in cluster.departed:
        return
    cluster.members = [m for m in cluster.members if m is not member]
    cluster.departed = [*cluster.departed, member]


def replace_member(
    cluster: Cluster, member: Member, learner: bool = False, cut: bool = False
) -> Member:
    """etcd's way to replace a member: remove it, wipe its data, add a new one."""
    remove_member(cluster, member, cut)
    shutil.rmtree(member.data_dir, ignore_errors=True)
    return add_member(cluster, learner)
