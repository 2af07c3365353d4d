"""`member list` (add/remove/update arrive with the cluster membership work)."""

from __future__ import annotations

import click

from keyraft.ctl.context import global_options, state


@click.group("member")
def member() -> None:
    """Membership related commands."""


@member.command("list")
@global_options()
def member_list() -> None:
    """List the cluster's members."""
    context = state()
    context.printer().member_list(context.client.call("/v3/cluster/member/list", {}))
