"""Parse request bodies the way etcd's Go gateway does, including its error messages.

etcd's gateway decodes one JSON value from the body with Go's encoding/json and ignores
whatever follows it; syntax errors come back verbatim ("unexpected EOF", "invalid character
'}' looking for beginning of object key string"). Bytes fields are standard base64, decoded
by Go's lenient decoder (newlines skipped) with its own error offsets. orjson does the work
on well-formed input; the scanner here only runs when orjson refuses a body.
"""

from __future__ import annotations

import binascii
import json
import re
import sys
import threading

import orjson
import pybase64

_WHITESPACE = b" \t\r\n"
_DEEP_PARSE = threading.Lock()
# Go's encoding/json refuses values nested deeper than this (its maxNestingDepth).
MAX_DEPTH = 10_000
_OBJECT, _ARRAY, _CLOSE_OBJECT, _CLOSE_ARRAY, _COMMA = b"{[}],"

# Fast paths for the scanner, so that a large malformed body costs C speed on its long
# valid stretches: each pattern matches only text the scanner would accept, and the
# scanner resumes byte by byte where a match ends (so errors name the same spot).
_SPACE = re.compile(rb"[ \t\r\n]*+")
_DIGITS = re.compile(rb"[0-9]*+")
_PLAIN_STRING = re.compile(rb'[^"\\\x00-\x1f]*+')
# Possessive quantifiers: JSON never needs backtracking, and without them Python's re
# costs ~1 µs per repetition (a body of 2,000,000 small numbers took 1.5 s, now 0.3 s).
_STRING = rb'"(?:[^"\\\x00-\x1f]++|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+"'
_NUMBER = rb"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+"
_SCALAR = rb"(?>" + _STRING + rb"|" + _NUMBER + rb"|true|false|null)"
_WS = rb"[ \t\r\n]*+"
# After a comma: more `scalar,` elements of an array, or `"key": scalar,` pairs of an object.
_ARRAY_RUN = re.compile(rb"(?>" + _SCALAR + _WS + rb"," + _WS + rb")*+")
_OBJECT_RUN = re.compile(
    rb"(?>" + _STRING + _WS + rb":" + _WS + _SCALAR + _WS + rb"," + _WS + rb")*+"
)
# A match holds the GIL for its whole length; bodies are scanned in worker threads, so
# each match covers at most this much, and the event loop gets turns in between.
_MATCH_WINDOW = 64 * 1024


def _advance(pattern: re.Pattern[bytes], data: bytes, position: int) -> int:
    """Where `pattern`'s match at `position` ends, matched a window at a time (each
    pattern matches whole elements only, so a window's match is a prefix of the whole)."""
    while True:
        end = pattern.match(data, position, position + _MATCH_WINDOW).end()  # type: ignore[union-attr]
        if end == position:
            return end
        position = end


class GoSyntaxError(ValueError):
    """A body Go's JSON decoder would refuse, with Go's message."""


_GO_ESCAPES = dict(
    zip("\a\b\f\n\r\t\v", ("\\a", "\\b", "\\f", "\\n", "\\r", "\\t", "\\v"), strict=True)
)


def quote_char(byte: int) -> str:
    """Go's quoteChar: how encoding/json names an offending character."""
    if byte == ord("'"):
        return "'\\''"
    if byte == ord('"'):
        return "'\"'"
    char = chr(byte)
    if char.isprintable():  # Go's IsPrint, of the byte read as the rune of that number
        return f"'{char}'"
    if char in _GO_ESCAPES:
        return f"'{_GO_ESCAPES[char]}'"
    if byte < 0x20 or byte == 0x7F:
        return f"'\\x{byte:02x}'"
    return f"'\\u{byte:04x}'"


def parse_body(body: bytes, strict: bool = False) -> object:
    """Decode the first JSON value of a body; an empty body is null.

    With `strict` (Go's json.Unmarshal rather than its Decoder) only white space may
    follow the value.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    if not body.strip(_WHITESPACE):
        return None
    scanner = _Scanner(body)
    end = scanner.first_value_end()
    if strict:
        scanner.expect_end()
    try:
        return orjson.loads(body[:end])
    except orjson.JSONDecodeError:
        # Valid for Go but not orjson: integers beyond 64 bits, invalid UTF-8, or nesting
        # deeper than orjson's 1024 levels (Go allows MAX_DEPTH: the scanner checked).
        text = body[:end].decode("utf-8", errors="replace")
        with _DEEP_PARSE:  # the recursion limit is process-wide; bodies decode in threads
            limit = sys.getrecursionlimit()
            sys.setrecursionlimit(max(limit, MAX_DEPTH + limit))
            try:
                return json.loads(text)
            finally:
                sys.setrecursionlimit(limit)


class _Scanner:
    """A minimal JSON syntax checker that reports errors as Go's encoding/json does."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.position = 0

    def first_value_end(self) -> int:
        """Scan the first value; return where it ends. Iterative, with an explicit stack
        of open containers, so that nesting costs memory, not Python's stack."""
        self._skip_space()
        opened = bytearray()
        while True:
            if self._open_container(opened):
                continue  # a value must follow: the first element, or a key's value
            # A value just ended: close what it ends, until a container goes on.
            while True:
                if not opened:
                    return self.position
                self._skip_space()
                byte = self._peek()
                inside_object = opened[-1] == _OBJECT
                if byte == _COMMA:
                    self.position += 1
                    self._skip_space()
                    run = _OBJECT_RUN if inside_object else _ARRAY_RUN
                    self.position = _advance(run, self.data, self.position)
                    self._skip_space()  # a window may end inside the white space
                    if inside_object:
                        self._key()
                    break
                if byte == (_CLOSE_OBJECT if inside_object else _CLOSE_ARRAY):
                    self.position += 1
                    opened.pop()
                    continue
                raise self._fail(
                    "after object key:value pair" if inside_object else "after array element"
                )

    def expect_end(self) -> None:
        self._skip_space()
        if self.position < len(self.data):
            raise self._fail("after top-level value")

    def _fail(self, context: str) -> GoSyntaxError:
        if self.position >= len(self.data):
            return GoSyntaxError("unexpected EOF")
        return GoSyntaxError(f"invalid character {quote_char(self.data[self.position])} {context}")

    def _peek(self) -> int | None:
        return self.data[self.position] if self.position < len(self.data) else None

    def _skip_space(self) -> None:
        self.position = _advance(_SPACE, self.data, self.position)

    def _open_container(self, opened: bytearray) -> bool:
        """Scan a value; if it opens a non-empty container, push it and return True (its
        first element is next). Go refuses nesting deeper than `MAX_DEPTH`."""
        byte = self._peek()
        if byte in (_OBJECT, _ARRAY):
            if len(opened) >= MAX_DEPTH:
                raise self._fail("exceeded max depth")
            self.position += 1
            self._skip_space()
            if self._peek() == (_CLOSE_OBJECT if byte == _OBJECT else _CLOSE_ARRAY):
                self.position += 1
                return False
            opened.append(byte)
            if byte == _OBJECT:
                self._key()
            return True
        self._scalar("looking for beginning of value")
        return False

    def _key(self) -> None:
        """An object key and its colon; the value follows."""
        if self._peek() != ord('"'):
            raise self._fail("looking for beginning of object key string")
        self._string()
        self._skip_space()
        if self._peek() != ord(":"):
            raise self._fail("after object key")
        self.position += 1
        self._skip_space()

    def _scalar(self, context: str) -> None:
        byte = self._peek()
        if byte is None:
            raise self._fail(context)
        if byte == ord('"'):
            self._string()
        elif byte == ord("-") or ord("0") <= byte <= ord("9"):
            self._number()
        elif byte in b"tfn":
            literal = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}[byte]
            for expected in literal:
                if self._peek() != expected:
                    name = literal.decode()
                    raise self._fail(f"in literal {name} (expecting {quote_char(expected)})")
                self.position += 1
        else:
            raise self._fail(context)

    def _string(self) -> None:
        self.position += 1
        data = self.data
        while True:
            self.position = _advance(_PLAIN_STRING, data, self.position)
            byte = self._peek()
            if byte is None:
                raise self._fail("in string literal")
            if byte == ord('"'):
                self.position += 1
                return
            if byte < 0x20:
                raise self._fail("in string literal")
            if byte == ord("\\"):
                self.position += 1
                escape = self._peek()
                if escape is None:
                    raise self._fail("in string escape code")
                if escape == ord("u"):
                    self.position += 1
                    for _ in range(4):
                        digit = self._peek()
                        if digit is None or digit not in b"0123456789abcdefABCDEF":
                            raise self._fail("in \\u hexadecimal character escape")
                        self.position += 1
                    continue
                if escape not in b'"\\/bfnrt':
                    raise self._fail("in string escape code")
            self.position += 1
            if self.position > len(data):  # pragma: no cover - loop guard
                raise self._fail("in string literal")

    def _digits(self) -> int:
        start = self.position
        self.position = _advance(_DIGITS, self.data, start)
        return self.position - start

    def _number(self) -> None:
        if self._peek() == ord("-"):
            self.position += 1
            byte = self._peek()
            if byte is None or not ord("0") <= byte <= ord("9"):
                raise self._fail("in numeric literal")
        if self._peek() == ord("0"):
            self.position += 1
        else:
            self._digits()
        if self._peek() == ord("."):
            self.position += 1
            if self._digits() == 0:
                raise self._fail("after decimal point in numeric literal")
        if self._peek() in (ord("e"), ord("E")):
            self.position += 1
            if self._peek() in (ord("+"), ord("-")):
                self.position += 1
            if self._digits() == 0:
                raise self._fail("in exponent of numeric literal")


_BASE64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def decode_base64(text: str) -> bytes:
    """Standard padded base64 as Go decodes it; errors name Go's byte offset."""
    try:
        # SIMD decoding: a put's key and value cost ~9k instructions in binascii.
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    raw = text.encode("utf-8", errors="surrogatepass")
    _go_base64_check(raw)
    cleaned = raw.replace(b"\n", b"").replace(b"\r", b"")
    return binascii.a2b_base64(cleaned)


def _go_base64_check(src: bytes) -> None:
    """Raise Go's CorruptInputError for src, mirroring base64.Encoding.decodeQuantum."""

    def corrupt(offset: int) -> ValueError:
        return ValueError(f"illegal base64 data at input byte {offset}")

    position = 0
    length = len(src)
    while True:
        quantum = 0
        while quantum < 4:
            if position == length:
                if quantum == 0:
                    return
                raise corrupt(position - quantum)
            byte = src[position]
            position += 1
            if byte in _BASE64_ALPHABET:
                quantum += 1
                continue
            if byte in (0x0A, 0x0D):
                continue
            if byte != ord("="):
                raise corrupt(position - 1)
            if quantum in (0, 1):
                raise corrupt(position - 1)
            if quantum == 2:
                while position < length and src[position] in (0x0A, 0x0D):
                    position += 1
                if position == length:
                    raise corrupt(length)
                if src[position] != ord("="):
                    raise corrupt(position - 1)
                position += 1
            while position < length and src[position] in (0x0A, 0x0D):
                position += 1
            if position < length:
                raise corrupt(position)
            return


def next_value(data: bytes) -> tuple[object, int] | None:
    """The first JSON value of a stream of values and the offset where it ends; None if
    only white space is left. Raises GoSyntaxError ("unexpected EOF" if the data ends
    inside the value, so a streaming reader knows to wait for more)."""
    scanner = _Scanner(data)
    scanner._skip_space()
    if scanner.position == len(data):
        return None
    end = scanner.first_value_end()
    return parse_body(data[:end]), end
