"""`lease grant|revoke|timetolive|list|keep-alive`."""

from __future__ import annotations

import time

import click

from keyraft.ctl.client import GatewayClient, StreamBroken
from keyraft.ctl.context import IGNORES_ARGUMENTS, global_options, state, usage
from keyraft.ctl.errors import EXIT_BAD_CONNECTION, CtlError, EndpointsUnreachable, ServerError
from keyraft.ctl.gofmt import parse_int
from keyraft.ctl.interrupt import exit_on_interrupt
from keyraft.ctl.pflag import EtcdctlGroup
from keyraft.ctl.requests import parse_lease_id


class LeaseNotFound(CtlError):
    """keep-alive --once found no lease: etcdctl exits with ExitBadConnection."""

    exit_code = EXIT_BAD_CONNECTION


def _lease(arguments: tuple[str, ...], command: str, missing: str = "lease ID as argument") -> int:
    """The one lease ID argument of `lease <command>`, with etcdctl's refusals."""
    if len(arguments) != 1:
        raise usage(f"lease {command} command needs {missing}")
    return parse_lease_id(arguments[0], "bad lease ID arg ({}), expecting ID in Hex")


@click.group("lease", cls=EtcdctlGroup)
def lease() -> None:
    """Lease related commands."""


@lease.command("grant")
@click.argument("arguments", nargs=-1, metavar="TTL")
@global_options()
def grant(arguments: tuple[str, ...]) -> None:
    """Create a lease of TTL seconds."""
    if len(arguments) != 1:
        raise usage("lease grant command needs TTL argument")
    try:
        seconds = parse_int(arguments[0])
    except ValueError as problem:
        raise usage(f"bad TTL ({problem})") from None
    context = state()
    try:
        response = context.client.call("/v3/lease/grant", {"TTL": seconds})
    except ServerError as problem:
        raise CtlError(f"failed to grant lease ({problem})") from None
    context.printer().grant(response)


@lease.command("revoke")
@click.argument("arguments", nargs=-1, metavar="LEASE_ID")
@global_options()
def revoke(arguments: tuple[str, ...]) -> None:
    """Revoke a lease (deleting its keys)."""
    ident = _lease(arguments, "revoke", missing="1 argument")
    context = state()
    try:
        response = context.client.call("/v3/lease/revoke", {"ID": ident})
    except ServerError as problem:
        raise CtlError(f"failed to revoke lease ({problem})") from None
    context.printer().revoke(ident, response)


@lease.command("timetolive")
@click.argument("arguments", nargs=-1, metavar="LEASE_ID")
@click.option("--keys", is_flag=True, help="Also list the keys attached to the lease.")
@global_options()
def timetolive(arguments: tuple[str, ...], keys: bool) -> None:
    """Get a lease's remaining time."""
    ident = _lease(arguments, "timetolive")
    context = state()
    body: dict = {"ID": ident}
    if keys:
        body["keys"] = True
    response = context.client.call("/v3/lease/timetolive", body)
    context.printer().time_to_live(response, keys)


@lease.command("list", context_settings=IGNORES_ARGUMENTS)
@global_options()
def list_leases() -> None:
    """List all active leases."""
    context = state()
    context.printer().leases(context.client.call("/v3/lease/leases", {}))


@lease.command("keep-alive")
@click.argument("arguments", nargs=-1, metavar="LEASE_ID")
@click.option("--once", is_flag=True, help="Renew once instead of until interrupted.")
@global_options()
def keep_alive(arguments: tuple[str, ...], once: bool) -> None:
    """Keep a lease alive, renewing it every third of its TTL."""
    exit_on_interrupt()
    ident = _lease(arguments, "keep-alive")
    context = state()
    printer = context.printer()
    try:
        while True:
            response = renew(context.client, ident)
            if int(response.get("TTL", 0) or 0) <= 0:
                if once:
                    raise LeaseNotFound("etcdserver: requested lease not found")
                click.echo(f"lease {ident:016x} expired or revoked.")
                return
            printer.keep_alive(response)
            if once:
                return
            time.sleep(max(int(response["TTL"]) / 3.0, 0.5))
    except KeyboardInterrupt:
        return


def renew(client: GatewayClient, ident: int) -> dict:
    """One keepalive round trip; a failed endpoint is skipped for the next round."""
    try:
        with client.stream("/v3/lease/keepalive", {"ID": ident}) as (_, messages):
            for message in messages:
                return message
    except StreamBroken:
        client.skip_current()
        raise EndpointsUnreachable([(client.endpoints[client._current], "stream closed")]) from None
    return {}
