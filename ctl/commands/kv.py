"""`put`, `get`, `del` and `compaction`: the key-value service."""

from __future__ import annotations

import sys

import click

from keyraft.ctl.context import global_options, state, usage
from keyraft.ctl.errors import BadArguments, BadFeature, CtlError
from keyraft.ctl.gofmt import parse_int
from keyraft.ctl.pflag import GO_INT
from keyraft.ctl.requests import (
    SORT_ORDERS,
    SORT_TARGETS,
    GetOptions,
    PutOptions,
    delete_request,
    put_arguments,
    put_request,
    range_request,
    to_bytes,
)


def _key_and_end(
    arguments: tuple[str, ...], command: str, allow_empty: bool
) -> tuple[bytes, bytes | None]:
    if (not arguments and not allow_empty) or len(arguments) > 2:
        raise usage(
            f"{command} command needs one argument as key and an optional argument as range_end"
        )
    key = to_bytes(arguments[0]) if arguments else b""
    return key, to_bytes(arguments[1]) if len(arguments) == 2 else None


@click.command("put")
@click.argument("arguments", nargs=-1, metavar="KEY [VALUE]")
@click.option("--lease", default="0", help="Lease ID (in hexadecimal) to attach to the key.")
@click.option("--prev-kv", is_flag=True, help="Return the previous key-value pair.")
@click.option("--ignore-value", is_flag=True, help="Update the key keeping its current value.")
@click.option("--ignore-lease", is_flag=True, help="Update the key keeping its current lease.")
@global_options()
def put(
    arguments: tuple[str, ...], lease: str, prev_kv: bool, ignore_value: bool, ignore_lease: bool
) -> None:
    """Put KEY with VALUE (read from stdin when VALUE is omitted)."""
    stdin_value = None
    if len(arguments) == 1 and not ignore_value:
        stdin_value = sys.stdin.buffer.read() or None
    try:
        key, value = put_arguments(list(arguments), ignore_value, stdin_value)
    except CtlError as problem:
        raise usage(str(problem)) from None
    options = PutOptions(lease, prev_kv, ignore_value, ignore_lease)
    context = state()
    response = context.client.call("/v3/kv/put", put_request(key, value, options))
    context.printer().put(response)


@click.command("get")
@click.argument("arguments", nargs=-1, metavar="KEY [RANGE_END]")
@click.option("--prefix", is_flag=True, help="Get keys with matching prefix.")
@click.option("--from-key", is_flag=True, help="Get keys greater than or equal to KEY.")
@click.option("--limit", type=GO_INT, default=0, help="Maximum number of results.")
@click.option("--rev", type=GO_INT, default=0, help="Read at this revision.")
@click.option("--keys-only", is_flag=True, help="Get only the keys.")
@click.option("--count-only", is_flag=True, help="Get only the count.")
@click.option("--print-value-only", is_flag=True, help='Only write values ("simple" output).')
@click.option("--sort-by", default="", help=f"Sort target: {', '.join(SORT_TARGETS)}.")
@click.option("--order", default="", help=f"Order of results: {', '.join(SORT_ORDERS)}.")
@click.option("--consistency", default="l", help="Linearizable (l) or serializable (s).")
@global_options()
def get(arguments: tuple[str, ...], print_value_only: bool, **flags: object) -> None:
    """Get KEY or the keys in [KEY, RANGE_END)."""
    options = GetOptions(**flags)  # type: ignore[arg-type]
    key, end = _key_and_end(arguments, "get", options.prefix or options.from_key)
    context = state()
    try:
        body = range_request(key, end, options)
    except BadFeature:  # a sort or consistency value: etcdctl's ExitBadFeature
        raise
    except CtlError as problem:
        raise usage(str(problem)) from None
    response = context.client.call("/v3/kv/range", body)
    if options.count_only:
        response["_count_only"] = True
    if print_value_only and context.output != "simple":  # checked once answered, as etcdctl
        raise BadArguments("print-value-only is only for `--write-out=simple`")
    context.printer(value_only=print_value_only).get(response)


@click.command("del")
@click.argument("arguments", nargs=-1, metavar="KEY [RANGE_END]")
@click.option("--prefix", is_flag=True, help="Delete keys with matching prefix.")
@click.option("--from-key", is_flag=True, help="Delete keys greater than or equal to KEY.")
@click.option("--prev-kv", is_flag=True, help="Return the deleted key-value pairs.")
@global_options()
def delete(arguments: tuple[str, ...], prefix: bool, from_key: bool, prev_kv: bool) -> None:
    """Delete KEY or the keys in [KEY, RANGE_END)."""
    key, end = _key_and_end(arguments, "del", prefix or from_key)
    try:
        body = delete_request(key, end, prefix, from_key, prev_kv)
    except CtlError as problem:
        raise usage(str(problem)) from None
    context = state()
    context.printer().delete(context.client.call("/v3/kv/deleterange", body))


@click.command("compaction")
@click.argument("arguments", nargs=-1, metavar="REVISION")
@click.option("--physical", is_flag=True, help="Wait until the compaction is physically applied.")
@global_options()
def compaction(arguments: tuple[str, ...], physical: bool) -> None:
    """Discard the key-value history before REVISION."""
    if len(arguments) != 1:
        raise usage("compaction command needs 1 argument")
    try:
        revision = parse_int(arguments[0])
    except ValueError as problem:  # etcdctl: ExitError, not ExitBadArgs
        raise CtlError(str(problem)) from None
    body: dict = {"revision": revision}
    if physical:
        body["physical"] = True
    context = state()
    context.client.call("/v3/kv/compaction", body)
    context.printer().compaction(revision)
