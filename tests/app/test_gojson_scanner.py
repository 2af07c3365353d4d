"""The Go-error scanner's fast paths (regular expressions over long valid stretches, matched
a window at a time) must report exactly what scanning byte by byte reports: the same
message at the same spot."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyraft.app import gojson

NOTHING = re.compile(b"")
# Inserted into valid JSON: stray tokens, and elements that look like scalars up to a
# comma but are not (what a fast path must not skip).
JUNK = [
    b"",
    b"x",
    b",",
    b"]",
    b"}",
    b":",
    b'"',
    b"-",
    b"\x01",
    b"1.,",
    b"1e,",
    b"-,",
    b"01,",
    b'"\\x",',
    b'"a\tb",',
    b"tru,",
    b"nul ,",
    b"1 2,",
    b'"k" 1,',
    b'"k":,',
]

_scalars = st.one_of(
    st.integers(-(10**20), 10**20).map(lambda n: str(n).encode()),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    st.text(max_size=6).map(lambda t: gojson.json.dumps(t).encode()),
    st.sampled_from([b"true", b"false", b"null", b'"\\u00e9\\n"']),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=5).map(lambda items: b"[" + b" , ".join(items) + b"]"),
        st.dictionaries(st.text(max_size=4), inner, max_size=4).map(
            lambda pairs: (
                b"{"
                + b",".join(gojson.json.dumps(k).encode() + b": " + v for k, v in pairs.items())
                + b"}"
            )
        ),
    ),
    max_leaves=30,
)


def _outcome(body: bytes) -> str:
    try:
        scanner = gojson._Scanner(body)
        return f"ends at {scanner.first_value_end()}"
    except gojson.GoSyntaxError as error:
        return str(error)


@settings(max_examples=400, deadline=None)
@given(_values, st.data())
def test_fast_paths_agree_with_byte_by_byte_scanning(value: bytes, data: st.DataObject) -> None:
    after_commas = [i + 1 for i, byte in enumerate(value) if byte == ord(",")]
    cut = data.draw(
        st.sampled_from(after_commas)
        if after_commas and data.draw(st.booleans())
        else st.integers(0, len(value))
    )
    junk = data.draw(st.sampled_from(JUNK))
    body = value[:cut] + junk + value[cut:]
    fast = _outcome(body)
    with pytest.MonkeyPatch.context() as patch:  # matches a few bytes at a time
        patch.setattr(gojson, "_MATCH_WINDOW", 3)
        assert _outcome(body) == fast, body
    with pytest.MonkeyPatch.context() as patch:
        for name in ("_ARRAY_RUN", "_OBJECT_RUN"):
            patch.setattr(gojson, name, NOTHING)
        slow = _outcome(body)
    assert fast == slow, body


@pytest.mark.parametrize(
    "body",
    [
        b"[" + b"1," * 1_000_000 + b"x",
        b"[" + b'"ab",' * 400_000 + b"x",
        b'{"k":"' + b"A" * 2_000_000 + b'"x',
        b"{" + b'"k": 1, ' * 250_000 + b"x",
    ],
    ids=["numbers", "strings", "long-string", "pairs"],
)
def test_large_malformed_bodies_are_refused_with_gos_message(body: bytes) -> None:
    with pytest.raises(gojson.GoSyntaxError, match="^invalid character 'x'"):
        gojson.parse_body(body)


def test_offending_bytes_are_named_as_go_names_them() -> None:
    # Measured on etcd 3.4.23: Go quotes the byte read as the rune of that number.
    named = {0xF1: "'ñ'", 0xC3: "'Ã'", 0x07: "'\\a'", 0x01: "'\\x01'", 0x7F: "'\\x7f'"}
    named |= {0x85: "'\\u0085'", 0xA0: "'\\u00a0'", 0xAD: "'\\u00ad'", 0x27: "'\\''"}
    assert {byte: gojson.quote_char(byte) for byte in named} == named
