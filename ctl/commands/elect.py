"""`elect NAME PROPOSAL` and `elect -l NAME`: leader election (etcd's v3election
service), as etcdctl 3.4.

Campaigning waits until elected, prints the leader key and value, and leads until Ctrl-C
(then resigns). Listening prints the leader, and every new leader or value, until Ctrl-C.
"""

from __future__ import annotations

import sys

import click

from keyraft.ctl.client import StreamBroken, b64
from keyraft.ctl.context import global_options, state
from keyraft.ctl.errors import BadArguments, CtlError
from keyraft.ctl.interrupt import exit_on_interrupt
from keyraft.ctl.session import Session, wait_canceling_on_interrupt

USAGE = "elect takes one election name argument and an optional proposal argument"
SESSION_TTL = 60  # etcdctl's session: clientv3/concurrency's default TTL


@click.command("elect")
@click.argument("arguments", nargs=-1, metavar="ELECTION-NAME [PROPOSAL]")
@click.option("-l", "--listen", is_flag=True, help="observation mode")
@global_options()
def elect(arguments: tuple[str, ...], listen: bool) -> None:
    """Observes and participates in leader election."""
    if len(arguments) not in (1, 2):
        raise BadArguments(USAGE)
    if listen and len(arguments) == 2:
        raise BadArguments("proposal given but -l is set")
    if not listen and len(arguments) == 1:
        raise BadArguments("no proposal argument but -l not set")
    if listen:
        observe(arguments[0])
    else:
        campaign(*arguments)


def campaign(name: str, proposal: str) -> None:
    context = state()
    client = context.client
    session = Session(client, SESSION_TTL)
    try:
        body = {"name": b64(name), "lease": session.lease, "value": b64(proposal)}
        leader = wait_canceling_on_interrupt(
            lambda: client.call("/v3/election/campaign", body, waits=True)
        )["leader"]
        context.printer().get(client.call("/v3/kv/range", {"key": leader["key"]}))
        sys.stdout.flush()
        session.until_interrupted()
        if session.expired:
            raise CtlError("elect: session expired")
        client.call("/v3/election/resign", {"leader": leader})
    finally:
        session.close()


def observe(name: str) -> None:
    exit_on_interrupt()
    context = state()
    printer = context.printer()
    try:
        with context.client.stream("/v3/election/observe", {"name": b64(name)}) as (_, leaders):
            for leader in leaders:
                printer.get({"header": leader.get("header", {}), "kvs": [leader["kv"]]})
                sys.stdout.flush()
    except StreamBroken:
        raise CtlError("elect: observer lost") from None
