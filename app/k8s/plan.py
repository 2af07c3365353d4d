"""The pure decision: pod + volume + member list (+ desired replicas) -> how to start.

No I/O here, so every case (fresh bootstrap, scale up, restart, lost volume, scale down)
is a table test. The rules, most specific first:

- data on the volume: restart with the flags of the first start, unless a healthy member
  says this member was removed (a scale-down kept the volume): then discard it and join
  (only data this entrypoint wrote for the same peer URL is ever discarded);
- my peer URL listed but never started: finish that start (a learner or a member added
  later: `existing`; one of the initial members: `new` with the initial cluster);
- my peer URL listed and started, but no data: the volume was lost, so replace the stale
  entry (remove, add as learner, promote when caught up);
- a healthy cluster without me: join as a learner, promoted when caught up;
- nobody answers at all and I am one of the initial members: bootstrap a new cluster;
- otherwise wait (members answer without a leader, or a later pod came first).

With the desired replica count known, members whose ordinal is past it (a scale-down whose
pre-stop hook did not finish) are removed too. Unknown (no API server): never removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keyraft.app.k8s.pod import Pod


@dataclass(frozen=True, slots=True)
class Member:
    """One entry of /v3/cluster/member/list.

    A member publishes its client URLs when it first starts, so none means never started;
    etcd also omits the name of a member added by member/add until it starts.
    """

    id: int
    name: str = ""
    peer_urls: tuple[str, ...] = ()
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False

    @property
    def started(self) -> bool:
        return bool(self.client_urls)

    @classmethod
    def from_json(cls, item: dict) -> Member:
        return cls(
            int(item["ID"]),
            item.get("name", ""),
            tuple(item.get("peerURLs", ())),
            tuple(item.get("clientURLs", ())),
            bool(item.get("isLearner", False)),
        )


@dataclass(frozen=True, slots=True)
class View:
    """What the other members said: anyone answering at all, a leader somewhere, the list."""

    reachable: bool = False
    healthy: bool = False
    members: tuple[Member, ...] = ()

    def find(self, peer_url: str) -> Member | None:
        return next((m for m in self.members if peer_url in m.peer_urls), None)


@dataclass(frozen=True, slots=True)
class Disk:
    has_data: bool = False
    saved_flags: tuple[str, ...] | None = None  # the first start's flags, if recorded


@dataclass(frozen=True, slots=True)
class Plan:
    action: str  # restart | bootstrap | join | replace | wait
    reason: str
    flags: tuple[str, ...] = ()
    remove: tuple[int, ...] = ()  # member IDs to remove before starting
    add_learner: bool = False
    promote: bool = False  # promote this member once the server runs and caught up
    discard_data: bool = False


def decide_start(pod: Pod, disk: Disk, view: View, desired: int | None = None) -> Plan:
    """How this pod's member starts; see the module docstring for the rules."""
    mine = view.find(pod.peer_url(pod.ordinal))
    retired = _retired(pod, view, desired, mine)
    if disk.has_data and not (view.healthy and mine is None and _my_saved_flags(pod, disk)):
        flags = disk.saved_flags or server_flags(pod, "new", initial_cluster(pod))
        promote = mine is not None and mine.is_learner
        return Plan("restart", "data on the volume", tuple(flags), retired, promote=promote)
    discard = disk.has_data  # a healthy cluster no longer lists me: removed by a scale-down
    if mine is not None and not mine.started:
        if mine.is_learner or pod.ordinal >= pod.initial_size:
            flags = server_flags(pod, "existing", joined_cluster(pod, view.members))
            return Plan("join", "added before, never started", flags, retired, False, True, discard)
        flags = server_flags(pod, "new", initial_cluster(pod))
        return Plan("bootstrap", "an initial member starting late", flags, discard_data=discard)
    if mine is not None:
        if not view.healthy:
            return Plan("wait", "volume lost, but no member has a leader to replace me")
        rest = tuple(m for m in view.members if m.id != mine.id)
        flags = server_flags(pod, "existing", joined_cluster(pod, rest))
        return Plan(
            "replace", "volume lost: stale entry replaced", flags, (mine.id, *retired), True, True
        )
    if view.healthy:
        flags = server_flags(pod, "existing", joined_cluster(pod, view.members))
        reason = "removed earlier, data discarded" if discard else "new member"
        return Plan("join", reason, flags, retired, True, True, discard)
    if not view.reachable and pod.ordinal < pod.initial_size:
        flags = server_flags(pod, "new", initial_cluster(pod))
        return Plan("bootstrap", "no member answers: a new cluster", flags)
    if view.reachable:
        return Plan("wait", "members answer, but none has a leader")
    return Plan("wait", "no member answers and I am not an initial member")


def decide_stop(pod: Pod, view: View, desired: int | None) -> Plan:
    """Whether a stopping pod leaves the cluster: only when a scale-down retired its ordinal."""
    if desired is None:
        return Plan("keep", "desired replicas unknown: keep the membership")
    if desired == 0:
        return Plan("keep", "scaled to zero: the cluster pauses, its membership stays")
    if pod.ordinal < desired:
        return Plan("keep", f"ordinal {pod.ordinal} < {desired} replicas: a restart")
    mine = view.find(pod.peer_url(pod.ordinal))
    if mine is None:
        return Plan("keep", "not a member any more")
    return Plan(
        "leave", f"ordinal {pod.ordinal} >= {desired} replicas: scaled down", remove=(mine.id,)
    )


def initial_cluster(pod: Pod) -> list[tuple[str, str]]:
    return [(pod.pod_name(i), pod.peer_url(i)) for i in range(pod.initial_size)]


def joined_cluster(pod: Pod, members: Sequence[Member]) -> list[tuple[str, str]]:
    """--initial-cluster for `existing`: the members as listed, named, plus this pod."""
    limit = max(pod.initial_size, pod.ordinal + 1, len(members)) + 16
    me = pod.peer_url(pod.ordinal)
    pairs = [(pod.name, me)]
    for member in members:
        if me in member.peer_urls:
            continue
        ordinal = pod.ordinal_of(member.name, list(member.peer_urls), limit)
        name = member.name or (pod.pod_name(ordinal) if ordinal is not None else f"{member.id:x}")
        pairs.extend((name, url) for url in member.peer_urls)
    return sorted(pairs)


def server_flags(pod: Pod, state: str, cluster: list[tuple[str, str]]) -> tuple[str, ...]:
    """etcd's flags (keyraft takes the same) for this pod's member."""
    peer, client = pod.peer_url(pod.ordinal), pod.client_url(pod.ordinal)
    return (
        f"--name={pod.name}",
        f"--data-dir={pod.data_dir}",
        f"--listen-client-urls={pod.listen_url(client)}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={pod.listen_url(peer)}",
        f"--initial-advertise-peer-urls={peer}",
        "--initial-cluster=" + ",".join(f"{name}={url}" for name, url in cluster),
        f"--initial-cluster-token={pod.token}",
        f"--initial-cluster-state={state}",
    )


def _my_saved_flags(pod: Pod, disk: Disk) -> bool:
    """Data is discarded only if this entrypoint wrote it under today's peer URL: data from
    an older manifest, or from before a rename of the Service, is never thrown away."""
    mine = f"--initial-advertise-peer-urls={pod.peer_url(pod.ordinal)}"
    return disk.saved_flags is not None and mine in disk.saved_flags


def _retired(pod: Pod, view: View, desired: int | None, mine: Member | None) -> tuple[int, ...]:
    """Members past the desired replicas, left behind by an unfinished scale-down."""
    if desired is None or not view.healthy or pod.ordinal >= desired:
        return ()
    limit = max(desired, len(view.members)) + 16
    return tuple(
        m.id
        for m in view.members
        if m is not mine
        and (ordinal := pod.ordinal_of(m.name, list(m.peer_urls), limit)) is not None
        and ordinal >= desired
    )
