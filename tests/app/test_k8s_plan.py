"""The StatefulSet entrypoint's decision, alone: env + member list + volume -> plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyraft.app.k8s.plan import Disk, Member, View, decide_start, decide_stop
from keyraft.app.k8s.pod import Pod, PodError, pod_from_env


def pod(ordinal: int, initial_size: int = 3) -> Pod:
    return pod_from_env(
        {
            "HOSTNAME": f"keyraft-{ordinal}",
            "POD_NAMESPACE": "db",
            "KEYRAFT_K8S_INITIAL_SIZE": str(initial_size),
            "KEYRAFT_K8S_VOLUME": "/vol",
        }
    )


def url(ordinal: int) -> str:
    return f"http://keyraft-{ordinal}.keyraft-peer.db.svc:2380"


def member(ordinal: int, started: bool = True, learner: bool = False) -> Member:
    # etcd names an initial member before it starts, not one added by member/add
    name = f"keyraft-{ordinal}" if started or not learner else ""
    clients = (f"http://keyraft-{ordinal}.keyraft-peer.db.svc:2379",) if started else ()
    return Member(100 + ordinal, name, (url(ordinal),), clients, learner)


def healthy(*members: Member) -> View:
    return View(reachable=True, healthy=True, members=members)


def flag(plan, name: str) -> str:
    return next(f.split("=", 1)[1] for f in plan.flags if f.startswith(f"--{name}="))


def test_pod_environment_gives_names_urls_and_volume() -> None:
    p = pod(4)
    assert (p.name, p.statefulset, p.ordinal, p.data_dir) == (
        "keyraft-4",
        "keyraft",
        4,
        Path("/vol/data"),
    )
    assert p.peer_url(1) == url(1)
    assert p.client_url(0) == "http://keyraft-0.keyraft-peer.db.svc:2379"
    mapped = pod_from_env(
        {
            "HOSTNAME": "kv-0",
            "KEYRAFT_K8S_ADDRESS_MAP": '{"kv-0.keyraft-peer.default.svc:2380": "127.0.0.1:7"}',
        }
    )
    assert mapped.peer_url(0) == "http://127.0.0.1:7"
    with pytest.raises(PodError):
        pod_from_env({"HOSTNAME": "laptop"})


def test_fresh_cluster_bootstraps_the_initial_members_only() -> None:
    plan = decide_start(pod(1), Disk(), View())
    assert plan.action == "bootstrap"
    assert flag(plan, "initial-cluster-state") == "new"
    assert flag(plan, "initial-cluster") == ",".join(f"keyraft-{i}={url(i)}" for i in range(3))
    assert flag(plan, "name") == "keyraft-1" and flag(plan, "data-dir") == "/vol/data"
    assert flag(plan, "listen-peer-urls") == "http://0.0.0.0:2380"
    assert decide_start(pod(3), Disk(), View()).action == "wait"  # a later pod needs a cluster


def test_an_initial_member_starting_late_finishes_the_bootstrap() -> None:
    view = View(True, False, (member(0), member(1, started=False), member(2, started=False)))
    plan = decide_start(pod(2), Disk(), view)
    assert (plan.action, flag(plan, "initial-cluster-state"), plan.add_learner) == (
        "bootstrap",
        "new",
        False,
    )


def test_members_without_a_leader_make_a_new_pod_wait() -> None:
    view = View(True, False, (member(0), member(1), member(2)))
    assert decide_start(pod(3), Disk(), view).action == "wait"
    assert (
        decide_start(pod(1, initial_size=3), Disk(), View(True, False, (member(0),))).action
        == "wait"
    )


def test_scale_up_joins_as_a_learner_promoted_later() -> None:
    plan = decide_start(pod(3), Disk(), healthy(member(0), member(1), member(2)))
    assert (plan.action, plan.add_learner, plan.promote, plan.remove) == ("join", True, True, ())
    assert flag(plan, "initial-cluster-state") == "existing"
    assert flag(plan, "initial-cluster") == ",".join(f"keyraft-{i}={url(i)}" for i in range(4))


def test_a_learner_added_but_never_started_starts_without_adding_again() -> None:
    view = healthy(member(0), member(1), member(2), member(3, started=False, learner=True))
    plan = decide_start(pod(3), Disk(), view)
    assert (plan.action, plan.add_learner, plan.promote) == ("join", False, True)
    assert "keyraft-3=" + url(3) in flag(plan, "initial-cluster")


def test_restart_with_data_reuses_the_first_flags_without_asking_anyone() -> None:
    saved = ("--name=keyraft-1", "--initial-cluster-state=new")
    plan = decide_start(pod(1), Disk(True, saved), View())
    assert (plan.action, plan.flags, plan.remove, plan.add_learner) == ("restart", saved, (), False)
    still_learner = healthy(member(0), member(1, learner=True))
    assert decide_start(pod(1), Disk(True, saved), still_learner).promote


def test_lost_volume_replaces_the_stale_entry() -> None:
    plan = decide_start(pod(1), Disk(), healthy(member(0), member(1), member(2)))
    assert (plan.action, plan.remove, plan.add_learner, plan.promote) == (
        "replace",
        (101,),
        True,
        True,
    )
    assert flag(plan, "initial-cluster-state") == "existing"
    unhealthy = View(True, False, (member(0), member(1), member(2)))
    assert decide_start(pod(1), Disk(), unhealthy).action == "wait"


def test_data_of_a_removed_member_is_discarded_before_joining_again() -> None:
    saved = (f"--initial-advertise-peer-urls={url(3)}",)
    plan = decide_start(pod(3), Disk(True, saved), healthy(member(0), member(1), member(2)))
    assert (plan.action, plan.discard_data, plan.add_learner) == ("join", True, True)
    for foreign in (None, ("--initial-advertise-peer-urls=http://elsewhere:2380",)):
        kept = decide_start(pod(3), Disk(True, foreign), healthy(member(0), member(1), member(2)))
        assert (kept.action, kept.discard_data) == ("restart", False)


def test_members_past_the_desired_replicas_are_removed_on_start() -> None:
    view = healthy(member(0), member(1), member(2), member(3), member(4))
    assert decide_start(pod(1), Disk(True, ("--x",)), view, desired=3).remove == (103, 104)
    assert decide_start(pod(1), Disk(True, ("--x",)), view, desired=None).remove == ()


def test_pre_stop_leaves_only_when_scaled_down() -> None:
    view = healthy(member(0), member(1), member(2), member(3))
    assert decide_stop(pod(3), view, desired=3).remove == (103,)
    assert decide_stop(pod(2), view, desired=3).action == "keep"  # a restart
    assert decide_stop(pod(3), view, desired=4).action == "keep"
    assert decide_stop(pod(3), view, desired=None).action == "keep"  # unknown: never remove
    assert decide_stop(pod(0), view, desired=0).action == "keep"  # scale to zero: a pause
