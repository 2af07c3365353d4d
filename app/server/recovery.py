"""Start-up checks and surgery on a member's Raft log: a WAL that is not where the data
dir expects it (--wal-dir), and a forced restart as the only member (--force-new-cluster).

etcd starting with an empty WAL dir beside a used data dir bootstraps a new Raft log over
the old data, which in a cluster of several members forks history; keyraft refuses.
"""

from __future__ import annotations

import logging
import os

from keyraft.app.server.config import ServerConfig
from keyraft.app.server.members import MemberChange, encode_change
from keyraft.app.server.state_machine import DataDirMismatch, StateMachine
from keyraft.raft.io.standalone import StandaloneError, force_standalone
from keyraft.raft.io.wal import has_log

log = logging.getLogger("keyraft.server")


def check_wal_dir(config: ServerConfig, state: StateMachine) -> None:
    """Refuse a data dir that has applied entries while the WAL dir in use has no log."""
    wal_dir = config.member_wal_dir
    if state.applied_index == 0 or has_log(wal_dir):
        return
    default = config.default_wal_dir
    moved = os.path.abspath(wal_dir) != os.path.abspath(default)
    if moved and has_log(default):
        hint = f"the data dir's log is in {default}: move its files to {wal_dir}"
    elif moved:
        hint = "is --wal-dir the one this member was started with?"
    else:
        hint = "was this member started with --wal-dir? give the same --wal-dir again"
    raise DataDirMismatch(
        f"data dir {config.data_dir} has applied entries up to {state.applied_index} but "
        f"WAL dir {wal_dir} holds no log ({hint})"
    )


def force_new_cluster(config: ServerConfig, state: StateMachine, member_id: int) -> None:
    """Make this member the only one of its cluster (same cluster ID, same data): the
    others are removed by committed conf changes appended to its log."""
    try:
        removed = force_standalone(
            config.member_wal_dir, member_id, state.conf_state(), encode_change(MemberChange())
        )
    except StandaloneError as error:
        raise DataDirMismatch(f"--force-new-cluster: {error}") from None
    if removed:
        log.warning(
            "--force-new-cluster: member %x restarts as its cluster's only member; removing %s",
            member_id,
            ", ".join(f"{node:x}" for node in removed),
        )
