"""Deep and huge JSON in unary bodies, compared with real etcd 3.4: the same status and
message, never a 500, no traceback in keyraft's log (issue #12)."""

from __future__ import annotations

import pytest

from tests.support.compare import Pair

_KEY = b'{"key":"YQ==","x":'

BODIES = {
    "100,000 open arrays": b"[" * 100_000,
    "100,000 open objects": b'{"a":' * 100_000,
    "past Go's depth inside a field": _KEY + b"[" * 10_001 + b"]" * 10_001 + b"}",
    "at Go's depth inside an unknown field": _KEY + b"[" * 9_999 + b"]" * 9_999 + b"}",
    "deeper than orjson, objects": _KEY + b'{"a":' * 3_000 + b"1" + b"}" * 3_000 + b"}",
    "deep where a string belongs": b'{"key":' + b"[" * 2_000 + b"]" * 2_000 + b"}",
    "deep array as the body": b"[" * 5_000 + b"]" * 5_000,
    "deep, then a syntax error": _KEY + b"[" * 3_000 + b"}",
    "a million elements, unfinished": _KEY + b"[" + b"1," * 500_000,
    "a million elements": _KEY + b"[" + b"1," * 500_000 + b"1]}",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
def test_deep_and_huge_range_bodies(pair: Pair, body: bytes) -> None:
    pair.same("/v3/kv/range", body)
    assert "Traceback" not in pair.keyraft.log_tail(200)


def test_deep_txn_body(pair: Pair) -> None:
    pair.same("/v3/kv/txn", b'{"success":[' + b"[" * 20_000)
    pair.same("/v3/kv/txn", b'{"compare":' + b"[" * 9_000 + b"]" * 9_000 + b"}")
    assert "Traceback" not in pair.keyraft.log_tail(200)
