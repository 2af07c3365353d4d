"""`txn [-i]`: one atomic transaction read from stdin in etcdctl's grammar."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import click

from keyraft.ctl.context import global_options, state
from keyraft.ctl.txn_grammar import read_transaction


def _lines(interactive: bool) -> Iterator[str]:
    if interactive and sys.stdin.isatty():
        # input() gives line editing on a terminal.
        while True:
            try:
                yield input()
            except EOFError:
                return
    yield from iter(sys.stdin.readline, "")


@click.command("txn")
@click.option("-i", "--interactive", is_flag=True, help="Input the transaction interactively.")
@global_options()
def txn(interactive: bool) -> None:
    """Apply compares, then success or failure requests, as one transaction.

    \b
    Reads from stdin:
      mod("key1") > "0"           compares, then a blank line
      put key1 "overwrote-key1"   success requests (get, put, del), then a blank line
      put key1 "created-key1"     failure requests, then a blank line
    """
    prompt = (lambda title: click.echo(title)) if interactive else None
    transaction = read_transaction(_lines(interactive), prompt)
    context = state()
    context.printer().txn(context.client.call("/v3/kv/txn", transaction.request()))
