"""`start`: decide (plan.py), carry the plan out through the members' API, exec the server.
`pre-stop`: leave the cluster when a scale-down retires this pod.

A plan that must wait (members without a leader, say) is decided again every second until
--wait runs out; then the exit lets Kubernetes restart the container with its back-off.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable

import click

from keyraft.app.k8s.members import MemberError, Members
from keyraft.app.k8s.plan import Disk, Plan, decide_start, decide_stop
from keyraft.app.k8s.pod import Pod, PodError, pod_from_env
from keyraft.app.k8s.replicas import Source, replicas_source

POLL = 0.5


def _log(message: str) -> None:
    click.echo(f"keyraft-k8s: {message}", err=True)


def peer_endpoints(pod: Pod) -> list[str]:
    """Client URLs of the other pods that may exist: every lower ordinal and the initial ones."""
    count = max(pod.initial_size, pod.ordinal + 1)
    return [pod.client_url(i) for i in range(count) if i != pod.ordinal]


def read_disk(pod: Pod) -> Disk:
    has_data = pod.data_dir.is_dir() and any(pod.data_dir.iterdir())
    try:
        saved = tuple(json.loads(pod.flags_file.read_text()))
    except (OSError, ValueError):
        saved = None
    return Disk(has_data, saved if has_data else None)


@click.group(context_settings={"auto_envvar_prefix": "KEYRAFT_K8S"})
@click.option(
    "--replicas-from",
    default="auto",
    show_default=True,
    help="Desired replicas: api, file:PATH, a number, none (auto: api inside a cluster).",
)
@click.pass_context
def main(context: click.Context, replicas_from: str) -> None:
    """Run keyraft as a StatefulSet member that scales itself."""
    try:
        pod = pod_from_env()
        source = replicas_source(replicas_from, pod.statefulset, pod.namespace)
    except (PodError, ValueError) as error:
        raise click.UsageError(str(error)) from None
    context.obj = (pod, source)


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--server", default="keyraft", show_default=True, help="The server to exec.")
@click.option("--wait", default=300.0, show_default=True, help="Seconds to retry before failing.")
@click.option("--dry-run", is_flag=True, help="Print the plan as JSON instead of starting.")
@click.argument("server_args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def start(
    obj: tuple[Pod, Source], server: str, wait: float, dry_run: bool, server_args: tuple[str, ...]
) -> None:
    """Join, rejoin or bootstrap as the plan says, then exec SERVER with its flags + SERVER_ARGS."""
    pod, source = obj
    members = Members(peer_endpoints(pod))
    deadline = time.monotonic() + wait
    while True:
        plan = decide_start(pod, read_disk(pod), members.view(), source())
        if dry_run:
            click.echo(
                json.dumps({"action": plan.action, "reason": plan.reason, "flags": plan.flags})
            )
            return
        _log(f"{plan.action}: {plan.reason}")
        if plan.action != "wait":
            try:
                member_id = carry_out(pod, plan, members)
                break
            except (MemberError, OSError) as error:
                _log(f"{plan.action} failed: {error}")
        if time.monotonic() > deadline:
            raise click.ClickException(f"gave up after {wait:.0f}s: {plan.reason}")
        time.sleep(1.0)
    if plan.promote and member_id is not None:
        _promote_in_background(members, member_id, deadline=time.monotonic() + 3600)
    members.close()
    argv = [server, *plan.flags, *server_args]
    _log("exec " + " ".join(argv))
    os.execvp(server, argv)


def carry_out(pod: Pod, plan: Plan, members: Members) -> int | None:
    """The plan's membership changes, in order; the ID of this pod's member when known."""
    if plan.discard_data:
        shutil.rmtree(pod.data_dir, ignore_errors=True)
        pod.flags_file.unlink(missing_ok=True)
    for member_id in plan.remove:
        members.remove(member_id)
    mine = members.view().find(pod.peer_url(pod.ordinal)) if plan.promote else None
    if plan.add_learner and mine is None:
        mine = members.add_learner(pod.peer_url(pod.ordinal))
    if plan.action != "restart":
        pod.volume.mkdir(parents=True, exist_ok=True)
        pod.flags_file.write_text(json.dumps(list(plan.flags)))
    return mine.id if mine is not None else None


def _promote_in_background(members: Members, member_id: int, deadline: float) -> None:
    """Fork a helper that promotes the learner once it caught up; the parent goes on to exec.

    The helper stops when the server (its parent, after exec) is gone or when promoted.
    """
    server_pid = os.getpid()
    if os.fork() != 0:
        return
    code, own = 1, Members(members.endpoints)  # the parent's connections stay the parent's
    try:
        own.view()
        code = 0 if _retry(lambda: own.promote(member_id), server_pid, deadline) else 1
        _log(f"member {member_id:x} promoted" if code == 0 else "promotion gave up")
    finally:
        os._exit(code)


def _retry(step: Callable[[], bool], parent: int, deadline: float) -> bool:
    while time.monotonic() < deadline and os.getppid() == parent:
        try:
            if step():
                return True
        except MemberError as error:
            _log(f"promote: {error}")
        time.sleep(POLL)
    return False


@main.command("pre-stop")
@click.option("--wait", default=20.0, show_default=True, help="Seconds to retry the removal.")
@click.pass_obj
def pre_stop(obj: tuple[Pod, Source], wait: float) -> None:
    """Remove this member if a scale-down retired its ordinal; a restart keeps it."""
    pod, source = obj
    members = Members([pod.client_url(pod.ordinal), *peer_endpoints(pod)])
    deadline = time.monotonic() + wait
    while True:
        plan = decide_stop(pod, members.view(), source())
        _log(f"pre-stop {plan.action}: {plan.reason}")
        try:
            for member_id in plan.remove:
                members.remove(member_id)
            return
        except MemberError as error:
            _log(f"remove failed: {error}")
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(1.0)
