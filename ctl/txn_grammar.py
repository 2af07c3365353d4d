"""etcdctl's txn text: compares, a blank line, success ops, a blank line, failure ops.

    mod("key1") > "0"            <- compare: target("key") op "value"

    put key1 "overwrote-key1"    <- success ops: put/get/del with their usual flags

    put key1 "created-key1"      <- failure ops

Targets: ver/version, c/create, m/mod (integers), val/value (bytes), lease (hex id).
Ops: `=`/`==`, `!=`, `<`, `>`. Strings are Go-quoted (`"a\\nb"`) or back-quoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from keyraft.ctl.client import b64
from keyraft.ctl.errors import CtlError, InvalidInput
from keyraft.ctl.requests import (
    GetOptions,
    PutOptions,
    delete_request,
    put_arguments,
    put_request,
    range_request,
    to_bytes,
)

TARGETS = {
    "ver": ("VERSION", "version"),
    "version": ("VERSION", "version"),
    "c": ("CREATE", "create_revision"),
    "create": ("CREATE", "create_revision"),
    "m": ("MOD", "mod_revision"),
    "mod": ("MOD", "mod_revision"),
    "val": ("VALUE", "value"),
    "value": ("VALUE", "value"),
    "lease": ("LEASE", "lease"),
}
RESULTS = {"=": "EQUAL", "==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
_ARGUMENT = re.compile(r"\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^'\"\s]\S*[^'\"\s]?")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@dataclass
class Transaction:
    compares: list[dict] = field(default_factory=list)
    success: list[dict] = field(default_factory=list)
    failure: list[dict] = field(default_factory=list)

    def request(self) -> dict:
        body: dict = {}
        for name, items in (
            ("compare", self.compares),
            ("success", self.success),
            ("failure", self.failure),
        ):
            if items:
                body[name] = items
        return body


def read_transaction(
    lines: Iterator[str], prompt: Callable[[str], None] | None = None
) -> Transaction:
    """Read the three sections; `prompt` announces each one (txn -i). EOF ends them all."""
    transaction = Transaction()
    sections: list[tuple[str, list[dict], Callable[[str], dict]]] = [
        ("compares:", transaction.compares, parse_compare),
        ("success requests (get, put, del):", transaction.success, parse_operation),
        ("failure requests (get, put, del):", transaction.failure, parse_operation),
    ]
    for title, items, parse in sections:
        if prompt is not None:
            prompt(title)
        for raw in lines:
            line = raw.strip()
            if not line:
                break
            items.append(parse(line))
    return transaction


def go_unquote(text: str) -> tuple[str, str]:
    """Read one Go string literal at the start of `text`; returns (value, rest)."""
    if text.startswith("`"):
        end = text.find("`", 1)
        if end < 0:
            raise ValueError("unterminated raw string")
        return text[1:end], text[end + 1 :]
    if not text.startswith('"'):
        raise ValueError("expected a quoted string")
    out: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(out), text[index + 1 :]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = text[index + 1 : index + 2]
        if escape in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[escape])
            index += 2
        elif escape in ('"', "\\", "'"):
            out.append(escape)
            index += 2
        elif escape in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[escape]
            digits = text[index + 2 : index + 2 + width]
            if len(digits) != width:
                raise ValueError("bad escape")
            code = int(digits, 16)
            # \xNN is a raw byte; keep it as a surrogate escape so to_bytes restores it.
            out.append(chr(0xDC00 + code) if escape == "x" and code >= 0x80 else chr(code))
            index += 2 + width
        elif escape.isdigit():
            code = int(text[index + 1 : index + 4], 8)
            out.append(chr(0xDC00 + code) if code >= 0x80 else chr(code))
            index += 4
        else:
            raise ValueError(f"unknown escape \\{escape}")
    raise ValueError("unterminated string")


def parse_compare(line: str) -> dict:
    target, paren, rest = line.partition("(")
    if not paren:
        raise InvalidInput(f"malformed comparison: {line}")
    target = target.strip()
    try:
        key, rest = go_unquote(rest.strip())
        if not rest.startswith(")"):
            raise ValueError("expected )")
        rest = rest[1:].strip()
        match = re.match(r"(==|=|!=|<|>)\s*", rest)
        if match is None:
            raise ValueError("unknown op")
        operator = match.group(1)
        value, tail = go_unquote(rest[match.end() :])
        if tail.strip():
            raise ValueError("trailing text")
    except ValueError as problem:
        raise InvalidInput(f"malformed comparison: {line} ({problem})") from None
    if target not in TARGETS:
        raise InvalidInput(f"malformed comparison: {line} (unknown target {target})")
    target_name, field_name = TARGETS[target]
    compare: dict = {"result": RESULTS[operator], "target": target_name, "key": b64(to_bytes(key))}
    try:
        if target_name == "VALUE":
            compare["value"] = b64(to_bytes(value))
        elif target_name == "LEASE":
            compare["lease"] = int(value, 16)
        else:
            compare[field_name] = int(value, 10)
    except ValueError:
        raise InvalidInput(f"invalid txn compare request: {line}") from None
    return compare


def argify(line: str) -> list[str]:
    """Split an op line as etcdctl does: words, "Go-quoted" or 'single-quoted' strings."""
    words = []
    for word in _ARGUMENT.findall(line):
        if word.startswith("'"):
            words.append(word[1:-1])
        elif word.startswith('"'):
            try:
                words.append(go_unquote(word)[0])
            except ValueError:
                raise InvalidInput(f"invalid txn request: {line}") from None
        else:
            words.append(word)
    return words


_FLAGS: dict[str, dict[str, type]] = {
    "put": {"lease": str, "prev-kv": bool, "ignore-value": bool, "ignore-lease": bool},
    "get": {
        "prefix": bool, "from-key": bool, "limit": int, "rev": int, "keys-only": bool,
        "count-only": bool, "sort-by": str, "order": str, "consistency": str,
        "print-value-only": bool,
    },
    "del": {"prefix": bool, "from-key": bool, "prev-kv": bool},
}  # fmt: skip


def _split_flags(command: str, words: list[str], line: str) -> tuple[list[str], dict]:
    allowed = _FLAGS[command]
    positional: list[str] = []
    flags: dict = {}
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--":
            positional.extend(words[index:])
            break
        if not word.startswith("--"):
            positional.append(word)
            continue
        name, equals, value = word[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise InvalidInput(f"invalid txn request: {line}")
        if kind is bool:
            flags[name] = value.lower() in ("", "true", "1") if equals else True
            continue
        if not equals:
            if index >= len(words):
                raise InvalidInput(f"invalid txn request: {line}")
            value, index = words[index], index + 1
        try:
            flags[name] = kind(value)
        except ValueError:
            raise InvalidInput(f"invalid txn request: {line}") from None
    return positional, flags


def parse_operation(line: str) -> dict:
    words = argify(line)
    if len(words) < 2 or words[0] not in _FLAGS:
        raise InvalidInput(f"invalid txn request: {line}")
    command = words[0]
    arguments, flags = _split_flags(command, words[1:], line)
    try:
        if command == "put":
            key, value = put_arguments(arguments, flags.get("ignore-value", False), None)
            options = PutOptions(
                lease=flags.get("lease", "0"),
                prev_kv=flags.get("prev-kv", False),
                ignore_value=flags.get("ignore-value", False),
                ignore_lease=flags.get("ignore-lease", False),
            )
            return {"request_put": put_request(key, value, options)}
        if len(arguments) > 2:
            raise CtlError("too many arguments")
        key = to_bytes(arguments[0])
        end = to_bytes(arguments[1]) if len(arguments) == 2 else None
        if command == "get":
            get = GetOptions(
                **{
                    name.replace("-", "_"): value
                    for name, value in flags.items()
                    if name != "print-value-only"
                }
            )
            return {"request_range": range_request(key, end, get)}
        return {
            "request_delete_range": delete_request(
                key, end, flags.get("prefix", False), flags.get("from-key", False),
                flags.get("prev-kv", False),
            )
        }  # fmt: skip
    except CtlError as problem:
        if isinstance(problem, InvalidInput):
            raise
        raise InvalidInput(f"invalid txn request: {line} ({problem})") from None
