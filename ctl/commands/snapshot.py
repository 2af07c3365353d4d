"""`snapshot save|status|restore`. `save` streams /v3/maintenance/snapshot from one
endpoint and checks the trailing SHA-256 before the file takes its name; `status` and
`restore` read files, not servers, so they run keyraft's snapshot tool (keyraftctl speaks
HTTP only; etcd 3.5 moved them to etcdutl for the same reason)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys

import click
import orjson

from keyraft.ctl.client import StreamBroken, unb64
from keyraft.ctl.context import global_options, state
from keyraft.ctl.errors import BadArguments, CtlError
from keyraft.ctl.pflag import EtcdctlGroup

SHA_BYTES = 32
TOOL = [sys.executable, "-m", "keyraft.app.snapshot_tool"]


@click.group("snapshot", cls=EtcdctlGroup)
def snapshot() -> None:
    """Manages etcd node snapshots."""


@snapshot.command("save")
@click.argument("path", required=False)
@global_options()
def save(path: str | None) -> None:
    """Stores an etcd node backend snapshot to a given file."""
    if not path:
        raise BadArguments("snapshot save expects one argument")
    client = state().client
    if len(client.endpoints) != 1:
        raise BadArguments("snapshot must be requested to one selected node, not multiple")
    partial = path + ".part"
    try:
        with (
            open(partial, "wb") as out,
            client.stream("/v3/maintenance/snapshot", {}) as (_, messages),
        ):
            for result in messages:
                out.write(unb64(result.get("blob")))
    except StreamBroken:
        pass  # the server ends the stream after the checksum chunk
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise
    _check_and_keep(partial, path)
    click.echo(f"Snapshot saved at {path}")


def _check_and_keep(partial: str, path: str) -> None:
    """The file's last 32 bytes must be the SHA-256 of the rest (etcd's trailer)."""
    digest = hashlib.sha256()
    size = os.path.getsize(partial)
    with open(partial, "rb") as source:
        left = size - SHA_BYTES
        while left > 0:
            chunk = source.read(min(1 << 20, left))
            digest.update(chunk)
            left -= len(chunk)
        ok = size >= SHA_BYTES and source.read(SHA_BYTES) == digest.digest()
    if not ok:
        os.unlink(partial)
        raise CtlError("snapshot stream ended early or its sha256 does not match")
    os.replace(partial, path)


def _tool(*arguments: str) -> str:
    done = subprocess.run([*TOOL, *arguments], capture_output=True, text=True)
    if done.returncode != 0:
        message = done.stderr.strip().removeprefix("Error: ") or "snapshot tool failed"
        raise CtlError(message)
    return done.stdout


@snapshot.command("status")
@click.argument("path", required=False)
@global_options()
def status(path: str | None) -> None:
    """Gets backend snapshot status of a given file."""
    if not path:
        raise BadArguments("snapshot status requires exactly one argument")
    if not os.path.exists(path):  # Go's os.Stat error, as etcdctl reports it
        raise CtlError(f"stat {path}: no such file or directory")
    state().printer().snapshot_status(orjson.loads(_tool("status", path)))


@snapshot.command("restore")
@click.argument("path", required=False)
@click.option("--name", default="default", help="Human-readable name for this member.")
@click.option("--data-dir", default="", help="Path to the data directory.")
@click.option(
    "--wal-dir", default="", help="Path to the WAL directory (use --data-dir if none given)."
)
@click.option(
    "--initial-cluster",
    default="default=http://localhost:2380",
    help="Initial cluster configuration for restore bootstrap.",
)
@click.option("--initial-cluster-token", default="etcd-cluster", help="Initial cluster token.")
@click.option(
    "--initial-advertise-peer-urls",
    default="http://localhost:2380",
    help="List of this member's peer URLs to advertise to the rest of the cluster.",
)
@global_options()
def restore(path: str | None, **flags: str) -> None:
    """Restores an etcd member snapshot to an etcd directory."""
    if not path:
        raise BadArguments("snapshot restore requires exactly one argument")
    arguments = [f"--{name.replace('_', '-')}={value}" for name, value in flags.items()]
    _tool("restore", path, *arguments)
