"""Bytes fields decode as Go's encoding/base64 StdEncoding does: the fast (SIMD) decoder
may only ever take what Go's rules take, and must give the same bytes."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keyraft.app.gojson import _go_base64_check, decode_base64

# Mostly the alphabet, with the characters Go treats specially (padding, newlines) and a
# few it refuses, so that near-valid inputs are common.
TEXT = st.text(
    alphabet=st.sampled_from("QUJDRUZHSWxtbm8xMjM0+/=\n\r -_é"), max_size=24
) | st.binary(max_size=40).map(lambda raw: base64.b64encode(raw).decode())


def _go_decode(text: str) -> bytes | None:
    """What Go's decoder gives, by the reference path (None: refused)."""
    raw = text.encode("utf-8", errors="surrogatepass")
    try:
        _go_base64_check(raw)
    except ValueError:
        return None
    return base64.b64decode(raw.replace(b"\n", b"").replace(b"\r", b""))


@given(TEXT)
def test_decoding_agrees_with_go_rules(text: str) -> None:
    expected = _go_decode(text)
    if expected is None:
        with pytest.raises(ValueError, match="illegal base64 data at input byte"):
            decode_base64(text)
    else:
        assert decode_base64(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("QQ==", b"A"), ("QR==", b"A"), ("QUJD", b"ABC"), ("QU\nJD", b"ABC"), ("", b"")],
)
def test_go_accepts_loose_trailing_bits_and_newlines(text: str, expected: bytes) -> None:
    assert decode_base64(text) == expected
