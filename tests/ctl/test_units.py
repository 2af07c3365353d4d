"""In-process checks of the pure pieces: Go formatting and the txn grammar."""

from __future__ import annotations

import pytest

from keyraft.app.durations import parse_duration
from keyraft.ctl.errors import InvalidInput
from keyraft.ctl.gofmt import duration, humanize_bytes, parse_int, quote
from keyraft.ctl.requests import prefix_end
from keyraft.ctl.txn_grammar import argify, parse_compare, parse_operation, read_transaction


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"foo", '"foo"'), (b"multi\nline", '"multi\\nline"'), (b"\x01\xff", '"\\x01\\xff"'),
     ('é"\\'.encode(), '"é\\"\\\\"'), (b"\x7f", '"\\x7f"')],
)  # fmt: skip
def test_quote_is_gos_percent_q(raw: bytes, expected: str) -> None:
    assert quote(raw) == expected


def test_go_durations_and_sizes() -> None:
    assert duration(0.0011806) == "1.1806ms"
    assert duration(0.00085) == "850µs"
    assert duration(90) == "1m30s"
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5
    with pytest.raises(ValueError, match='missing unit in duration "3"'):
        parse_duration("3")  # etcdctl's flags take Go durations only
    assert (
        humanize_bytes(20480) == "20 kB"
        and humanize_bytes(5) == "5 B"
        and humanize_bytes(2_500_000) == "2.5 MB"
    )


@pytest.mark.parametrize(
    ("text", "base", "expected"),
    [("42", 10, 42), ("-7", 10, -7), ("0x1f", 0, 31), ("010", 0, 8), ("1f", 16, 31),
     ("9223372036854775807", 10, 2**63 - 1)],
)  # fmt: skip
def test_parse_int_takes_what_go_takes(text: str, base: int, expected: int) -> None:
    assert parse_int(text, base) == expected


@pytest.mark.parametrize(
    ("text", "base", "why"),
    [("x", 10, "invalid syntax"), (" 1", 10, "invalid syntax"), ("1_0", 10, "invalid syntax"),
     ("0x1f", 16, "invalid syntax"), ("", 10, "invalid syntax"),
     ("9223372036854775808", 10, "value out of range")],
)  # fmt: skip
def test_parse_int_refuses_in_gos_words(text: str, base: int, why: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_int(text, base)
    assert str(refused.value) == f'strconv.ParseInt: parsing "{text}": {why}'


def test_prefix_end() -> None:
    assert (
        prefix_end(b"a") == b"b" and prefix_end(b"a\xff") == b"b" and prefix_end(b"\xff") == b"\x00"
    )


def test_compares() -> None:
    assert parse_compare('mod("k") > "0"') == {
        "result": "GREATER",
        "target": "MOD",
        "key": "aw==",
        "mod_revision": 0,
    }
    assert parse_compare('lease("k") = "1f"')["lease"] == 31
    assert parse_compare('val("k") != `raw\\n`')["value"] == "cmF3XG4="
    with pytest.raises(InvalidInput):
        parse_compare('ver("k") = "x"')


def test_operations_and_sections() -> None:
    assert argify("put 'a b' \"c\\td\" e") == ["put", "a b", "c\td", "e"]
    assert parse_operation("del k --prefix") == {
        "request_delete_range": {"key": "aw==", "range_end": "bA=="}
    }
    assert parse_operation("get k --limit=2 --rev 3") == {
        "request_range": {"key": "aw==", "limit": 2, "revision": 3}
    }
    titles: list[str] = []
    transaction = read_transaction(iter(["\n", "put a b\n", "\n"]), titles.append)
    assert transaction.request() == {"success": [{"request_put": {"key": "YQ==", "value": "Yg=="}}]}
    assert titles == [
        "compares:",
        "success requests (get, put, del):",
        "failure requests (get, put, del):",
    ]
