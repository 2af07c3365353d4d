"""`defrag [--cluster]`: defragment each endpoint's backend, one at a time (etcdctl)."""

from __future__ import annotations

import click

from keyraft.ctl.commands.endpoint import endpoints
from keyraft.ctl.context import global_options, state
from keyraft.ctl.errors import CtlError


class DefragFailed(CtlError):
    """Each failure was reported on its own line; etcdctl adds no `Error:` line."""


@click.command("defrag")
@click.option("--cluster", is_flag=True, help="Defragment every member's client URLs.")
@click.argument("extra", nargs=-1)
@global_options()
def defrag(cluster: bool, extra: tuple[str, ...]) -> None:
    """Defragments the storage of the etcd members with given endpoints."""
    client = state().client
    failed = False
    for url in endpoints(cluster):
        try:
            client.call_at(url, "/v3/maintenance/defragment", {})
        except CtlError as problem:
            click.echo(f"Failed to defragment etcd member[{url}] ({problem})", err=True)
            failed = True
            continue
        click.echo(f"Finished defragmenting etcd member[{url}]")
    if failed:
        raise DefragFailed("")
