"""`lock NAME [COMMAND ...]`: hold a named lock (etcd's v3lock service), as etcdctl 3.4.

Without a command it prints the ownership key (and its empty value) and holds the lock
until Ctrl-C; with one it runs the command while holding it, telling it the key and the
revision it was acquired at (ETCD_LOCK_KEY, ETCD_LOCK_REV: fence writes with them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import click

from keyraft.ctl.client import b64, unb64
from keyraft.ctl.context import global_options, state
from keyraft.ctl.errors import BadArguments, CtlError
from keyraft.ctl.session import Session, wait_canceling_on_interrupt

USAGE = "lock takes a lock name argument and an optional command to execute"


@click.command("lock")
@click.argument("lockname", required=False)
@click.argument("command", nargs=-1)
@click.option("--ttl", default=10, show_default=True, help="timeout for session")
@global_options()
def lock(lockname: str | None, command: tuple[str, ...], ttl: int) -> None:
    """Acquires a named lock."""
    if not lockname:
        raise BadArguments(USAGE)
    context = state()
    client = context.client
    session = Session(client, ttl)
    try:
        answer = wait_canceling_on_interrupt(
            lambda: client.call(
                "/v3/lock/lock", {"name": b64(lockname), "lease": session.lease}, waits=True
            )
        )
        if command:
            revision = answer["header"]["revision"]
            status = run_holding(command, unb64(answer["key"]).decode(errors="replace"), revision)
            client.call("/v3/lock/unlock", {"key": answer["key"]})
            if status:
                raise CtlError(f"exit status {status}")
            return
        owned = client.call("/v3/kv/range", {"key": answer["key"]})
        if not owned.get("kvs"):
            raise CtlError("lock lost on init")
        context.printer().get(owned)
        sys.stdout.flush()
        session.until_interrupted()
        if session.expired:
            raise CtlError("session expired")
        client.call("/v3/lock/unlock", {"key": answer["key"]})
    finally:
        session.close()


def run_holding(command: tuple[str, ...], key: str, revision: str) -> int:
    """Run `command` with the lock's key and revision in its environment; its status."""
    program = command[0]
    if os.sep not in program and shutil.which(program) is None:
        raise CtlError(f'exec: "{program}": executable file not found in $PATH')
    env = {"ETCD_LOCK_KEY": key, "ETCD_LOCK_REV": str(revision), **os.environ}
    try:
        return subprocess.run(command, env=env, check=False).returncode
    except OSError as problem:
        raise CtlError(f"fork/exec {program}: {problem.strerror.lower()}") from None
