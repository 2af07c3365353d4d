"""Build gateway request bodies from etcdctl's put/get/del arguments.

Shared by the `put`, `get` and `del` commands and by the txn grammar, whose operation lines
use the very same syntax; the argument checks and their messages are etcdctl's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from keyraft.app.keys import prefix_end
from keyraft.ctl.client import b64
from keyraft.ctl.errors import BadArguments, BadFeature, CtlError
from keyraft.ctl.gofmt import parse_int

SORT_TARGETS = ("KEY", "VERSION", "CREATE", "MODIFY", "VALUE")
_PROTO_TARGETS = {"MODIFY": "MOD"}  # etcdctl's flag word vs the proto enum name
SORT_ORDERS = ("ASCEND", "DESCEND")


def to_bytes(text: str) -> bytes:
    """Command-line text back to the exact bytes typed (undecodable bytes survive)."""
    return os.fsencode(text)


def parse_lease_id(text: str, template: str = "bad lease ID ({}), expecting ID in Hex") -> int:
    """A lease ID as etcdctl parses it (strconv.ParseInt(text, 16, 64)); refused with
    `template` around Go's words, as etcdctl's ExitBadArgs."""
    try:
        return parse_int(text, base=16)
    except ValueError as problem:
        raise BadArguments(template.format(problem)) from None


def key_range(key: bytes, range_end: bytes | None, prefix: bool, from_key: bool) -> dict:
    """`key`/`range_end` of a range request with etcdctl's --prefix/--from-key rules."""
    if prefix and from_key:
        raise CtlError("`--prefix` and `--from-key` cannot be set at the same time, choose one")
    if range_end is not None and (prefix or from_key):
        raise CtlError(
            "too many arguments, only accept one argument when `--prefix` or `--from-key` is set"
        )
    body: dict = {}
    if prefix:
        body = {"key": b64(key or b"\x00"), "range_end": b64(prefix_end(key))}
    elif from_key:
        body = {"key": b64(key or b"\x00"), "range_end": b64(b"\x00")}
    else:
        body = {"key": b64(key)}
        if range_end is not None:
            body["range_end"] = b64(range_end)
    return body


@dataclass(slots=True)
class GetOptions:
    prefix: bool = False
    from_key: bool = False
    limit: int = 0
    rev: int = 0
    keys_only: bool = False
    count_only: bool = False
    sort_by: str = ""
    order: str = ""
    consistency: str = "l"


def range_request(key: bytes, range_end: bytes | None, options: GetOptions) -> dict:
    body = key_range(key, range_end, options.prefix, options.from_key)
    order = options.order.upper()
    if order not in ("", *SORT_ORDERS):
        raise BadFeature(f"bad sort order {options.order}")
    target = options.sort_by.upper()
    if target not in ("", "MOD", *SORT_TARGETS):
        raise BadFeature(f"bad sort target {options.sort_by}")
    if options.consistency not in ("l", "s"):
        raise BadFeature(f'unknown consistency flag "{options.consistency}"')
    if options.keys_only and options.count_only:
        raise CtlError(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one"
        )
    # clientv3.WithSort: ascending by key is the server's natural order, sent as "none".
    if order == "ASCEND" and target in ("", "KEY"):
        order = ""
    if order:
        body["sort_order"] = order
    if target and target != "KEY":
        body["sort_target"] = _PROTO_TARGETS.get(target, target)
    for field, value in (
        ("limit", options.limit),
        ("revision", options.rev),
        ("keys_only", options.keys_only),
        ("count_only", options.count_only),
        ("serializable", options.consistency == "s"),
    ):
        if value:
            body[field] = value
    return body


@dataclass(slots=True)
class PutOptions:
    lease: str = "0"
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


def put_request(key: bytes, value: bytes | None, options: PutOptions) -> dict:
    body: dict = {"key": b64(key)}
    if value:
        body["value"] = b64(value)
    lease = parse_lease_id(options.lease)
    if lease:
        body["lease"] = lease
    for field, flag in (
        ("prev_kv", options.prev_kv),
        ("ignore_value", options.ignore_value),
        ("ignore_lease", options.ignore_lease),
    ):
        if flag:
            body[field] = True
    return body


def put_arguments(
    arguments: list[str], ignore_value: bool, stdin_value: bytes | None
) -> tuple[bytes, bytes | None]:
    """Key and value of `put`, checked as etcdctl checks them."""
    if not arguments:
        raise CtlError("put command needs 1 argument and input from stdin or 2 arguments")
    key = to_bytes(arguments[0])
    if ignore_value:
        if len(arguments) > 1:
            raise CtlError("put command needs only 1 argument when 'ignore-value' is set")
        return key, None
    if len(arguments) == 2:
        return key, to_bytes(arguments[1])
    if len(arguments) == 1 and stdin_value is not None:
        return key, stdin_value
    raise CtlError("put command needs 1 argument and input from stdin or 2 arguments")


def delete_request(
    key: bytes, range_end: bytes | None, prefix: bool, from_key: bool, prev_kv: bool
) -> dict:
    body = key_range(key, range_end, prefix, from_key)
    if prev_kv:
        body["prev_kv"] = True
    return body
