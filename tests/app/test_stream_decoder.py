"""The gateway streams' request decoder: values whatever the chunking, Go's messages,
bounded memory, and work proportional to the bytes received."""

from __future__ import annotations

import asyncio

import pytest

from keyraft.app.gojson import GoSyntaxError, next_value
from keyraft.app.stream_decoder import FEED_STEP_BYTES, RequestDecoder, ValueTooLarge
from tests.support.loop_turns import with_loop_turns

LIMIT = 1 << 20


def decode(chunks: list[bytes], limit: int = LIMIT) -> tuple[list[object], str | None]:
    decoder = RequestDecoder(limit)
    values: list[object] = []
    for chunk in chunks:
        values += decoder.feed(chunk)
    values += decoder.finish()
    return values, None if decoder.error is None else str(decoder.error)


def splits(data: bytes) -> list[list[bytes]]:
    """The body in one chunk, cut in two at every offset, and one byte at a time."""
    cut_in_two = [[data[:offset], data[offset:]] for offset in range(len(data) + 1)]
    return [[data], *cut_in_two, [data[i : i + 1] for i in range(len(data))]]


def whole_body(data: bytes) -> tuple[list[object], str | None]:
    """What the gateway decodes from the complete body, value after value."""
    values: list[object] = []
    while True:
        try:
            found = next_value(data)
        except GoSyntaxError as error:
            return values, str(error)
        if found is None:
            return values, None
        value, end = found
        values.append(value)
        data = data[end:]


def test_a_multibyte_value_split_at_every_byte_decodes_the_same() -> None:
    data = '{"create_request":{"key":"YQ==","note":"é€😀 ok"}}'.encode()
    for chunks in splits(data):
        values, error = decode(chunks)
        assert error is None
        assert values == [{"create_request": {"key": "YQ==", "note": "é€😀 ok"}}], chunks


def test_a_stream_of_values_split_at_every_byte_decodes_the_same() -> None:
    data = (
        b'{"ID":1}{"ID":"2"}\n  {"ID":3,"x":[1,-2.5e3,true,false,null,"\\u00e9\\n"]}'
        b'\t[]{}"s" 12 0 -7'
    )
    expected = [
        {"ID": 1},
        {"ID": "2"},
        {"ID": 3, "x": [1, -2500.0, True, False, None, "é\n"]},
        [],
        {},
        "s",
        12,
        0,
        -7,
    ]
    for chunks in splits(data):
        assert decode(chunks) == (expected, None), chunks


@pytest.mark.parametrize(
    "data",
    [
        b"garbage",
        b'{"a" x}',
        b'{"a":[1}',
        b"[01]",
        b'{"a":"\n"}',
        b'"\\q"',
        b'"\\u12G4"',
        b"tx",
        b"-x",
        b"1.x",
        b"1ex",
        b'{"ID":1}{"bad',
        b'{"ID":1} x',
        b'{,"a":1}',
        '{"é":1}]'.encode(),
    ],
)
def test_errors_are_gos_whatever_the_chunking(data: bytes) -> None:
    expected = whole_body(data)
    assert expected[1] is not None
    for chunks in splits(data):
        assert decode(chunks) == expected, chunks


def test_an_unfinished_value_is_refused_at_the_limit_without_buffering_more() -> None:
    limit = 64 * 1024
    chunk = b"A" * 4096
    decoder = RequestDecoder(limit)
    assert decoder.feed(b'{"ID":1} {"key":"') == [{"ID": 1}]
    fed = 0
    while decoder.error is None:
        assert decoder.feed(chunk) == []
        fed += len(chunk)
        assert decoder.buffered <= limit + len(chunk)
        assert fed <= limit + len(chunk), "the limit was not enforced"
    assert isinstance(decoder.error, ValueTooLarge)
    assert decoder.error.size > limit
    assert decoder.buffered == 0
    assert decoder.feed(chunk * 16) == [] and decoder.buffered == 0
    assert decoder.finish() == []


def test_a_complete_value_over_the_limit_is_refused_too() -> None:
    big = b'{"key":"' + b"A" * 100 + b'"}'
    assert decode([b'{"ID":1}' + big], limit=50)[0] == [{"ID": 1}]
    decoder = RequestDecoder(50)
    decoder.feed(b'{"ID":1}' + big)
    assert isinstance(decoder.error, ValueTooLarge)


def test_white_space_between_values_is_not_kept() -> None:
    decoder = RequestDecoder(16)
    for _ in range(1000):
        assert decoder.feed(b" " * 1024 + b"\n") == []
        assert decoder.buffered == 0
    assert decoder.feed(b"{}") == [{}]


@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_many_small_values_cost_each_byte_one_look(chunk_size: int) -> None:
    data = b"".join(b'{"ID":%d} ' % index for index in range(5000))
    decoder = RequestDecoder(LIMIT)
    count = 0
    for start in range(0, len(data), chunk_size):
        count += len(decoder.feed(data[start : start + chunk_size]))
        assert decoder.buffered < 16  # only the unfinished value is kept
    count += len(decoder.finish())
    assert count == 5000
    assert decoder.bytes_scanned == len(data)


def test_a_large_value_trickling_in_is_scanned_once() -> None:
    """An 8 MB value sent in small chunks costs its length, not length x chunks."""
    value = b'{"key":"' + b"QUFB" * (2 * 1024 * 1024) + b'"}'
    decoder = RequestDecoder(len(value))
    values: list[object] = []
    for start in range(0, len(value), 16 * 1024):
        values += decoder.feed(value[start : start + 16 * 1024])
    assert len(values) == 1 and len(values[0]["key"]) == 8 * 1024 * 1024
    assert decoder.bytes_scanned == len(value)


def test_deep_nesting_is_refused_not_fatal() -> None:
    """No input crashes the member: nesting deeper than the parser can follow is an
    error (Go's words), whether the value is finished or not."""
    assert decode([b"[" * 20_000]) == ([], "invalid character '[' exceeded max depth")
    assert decode([b"[" * 10_001]) == ([], "invalid character '[' exceeded max depth")
    values, error = decode([b"[" * 5000 + b"]" * 5000])  # within Go's 10,000 levels
    assert error is None and len(values) == 1
    assert decode([b"[" * 500 + b"]" * 500])[1] is None


def test_a_large_chunk_is_scanned_in_steps_that_let_the_loop_run() -> None:
    # 256 KiB of an unfinished array of small numbers: the slowest input to scan.
    chunk = b'{"create_request":{"key":"Zm9v","x":[' + b"1," * (128 * 1024)

    decoder = RequestDecoder(limit=1 << 30)
    values, turns = asyncio.run(with_loop_turns(decoder.feed_in_steps(chunk)))
    assert values == [] and decoder.error is None  # unfinished, not wrong
    assert decoder.bytes_scanned == len(chunk)
    assert turns >= len(chunk) // FEED_STEP_BYTES - 1
