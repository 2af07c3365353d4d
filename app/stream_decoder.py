"""The gateway streams' request side: a body of JSON values, split as bytes arrive.

Watch and lease keepalive requests arrive as one HTTP body holding a sequence of JSON
values (white space between them optional). `RequestDecoder` works on bytes (a character
split across chunks is whole by the time a value is parsed), looks at each byte once
(string bodies and white space are skipped in C), keeps only the unfinished value, and
refuses one that outgrows its limit. Syntax errors carry Go's encoding/json messages,
from `gojson`'s scanner, found at the byte where Go's decoder would stop.
"""

from __future__ import annotations

import asyncio
import re

from keyraft.app import errors
from keyraft.app.gojson import GoSyntaxError, next_value, parse_body
from keyraft.app.server.etcdserver import EtcdServer


class ValueTooLarge(Exception):
    """A request value longer than the decoder's limit (`size` bytes so far)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"request value of {size} bytes or more")
        self.size = size


FEED_STEP_BYTES = 4096


def value_limit(server: EtcdServer) -> int:
    """The longest JSON text of one stream request: as for a unary body, four times the
    largest message the server accepts (bytes fields are base64, names add more)."""
    return server.config.grpc_limit_bytes * 4


def too_large(server: EtcdServer, size: int) -> errors.EtcdError:
    """gRPC's refusal of an oversized message; the JSON text is about 4/3 of it."""
    return errors.message_too_large(size * 3 // 4, server.config.grpc_limit_bytes)


_NOT_SPACE = re.compile(rb"[^ \t\r\n]")
_STRING_STOP = re.compile(rb'["\\\x00-\x1f]')
_NOT_DIGIT = re.compile(rb"[^0-9]")

# Scanner states, after Go's encoding/json scanner (its messages come from gojson).
# Their order matters: `_scan` and `_structure` dispatch on ranges of them.
_TOP = 0  # between values
_VALUE = 1  # a value must begin
_VALUE_OR_CLOSE = 2  # after '['
_KEY_OR_CLOSE = 3  # after '{'
_KEY = 4  # after ',' in an object
_COLON = 5  # after an object key
_NEXT = 6  # after a value inside a container
_STRING = 7
_ESCAPE = 8
_UNICODE = 9  # inside \uXXXX, `_pending` hex digits to go
_MINUS = 10
_ZERO = 11
_INTEGER = 12
_POINT = 13
_FRACTION = 14
_EXPONENT = 15
_EXPONENT_SIGN = 16
_EXPONENT_DIGITS = 17
_LITERAL = 18  # inside true/false/null, `_literal[_pending:]` to go
_FAILED = 19

_NUMBER_DONE = (_ZERO, _INTEGER, _FRACTION, _EXPONENT_DIGITS)
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESCAPES = frozenset(b'"\\/bfnrt')
_LITERALS = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}
_OPEN = {ord("{"): _KEY_OR_CLOSE, ord("["): _VALUE_OR_CLOSE}
_QUOTE, _BACKSLASH, _COMMA, _COLON_BYTE = ord('"'), ord("\\"), ord(","), ord(":")
_OPEN_OBJECT, _CLOSE_OBJECT, _OPEN_ARRAY, _CLOSE_ARRAY = b"{}[]"
_MINUS_BYTE, _ZERO_BYTE, _POINT_BYTE = ord("-"), ord("0"), ord(".")
_DIGITS = frozenset(b"0123456789")
_NONZERO = frozenset(b"123456789")


class RequestDecoder:
    """Incremental decoder of a body that is a sequence of JSON values.

    `feed` each chunk and `finish` at the end of the body; both return the values that
    became complete, in order. The first error stops the decoder: `error` then holds a
    `GoSyntaxError` (Go's message) or a `ValueTooLarge`, and the values before it have
    been returned. Work is proportional to the bytes received (`bytes_scanned` counts the
    bytes the scanner looked at), and memory to the unfinished value, at most `limit`
    bytes plus one chunk.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.error: GoSyntaxError | ValueTooLarge | None = None
        self.bytes_scanned = 0
        self._buffer = bytearray()
        self._position = 0  # next byte to scan
        self._start = 0  # where the unfinished value begins
        self._state = _TOP
        self._open = bytearray()  # the unfinished value's open containers
        self._key = False  # the string being scanned is an object key
        self._literal = b""
        self._pending = 0

    @property
    def buffered(self) -> int:
        """Bytes held: the unfinished value (and, during a feed, the chunk)."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[object]:
        if self.error is not None or not chunk:
            return []
        self._buffer += chunk
        spans, syntax_error = self._scan()
        values = self._values(spans)
        if self.error is None and syntax_error is not None:
            self._fail(syntax_error)
        if self.error is None and self._state != _TOP:
            unfinished = len(self._buffer) - self._start
            if unfinished > self.limit:
                self._fail(ValueTooLarge(unfinished))
        self._compact()
        return values

    async def feed_in_steps(self, chunk: bytes) -> list[object]:
        """`feed`, a few KiB at a time with the event loop let run in between: scanning
        costs up to ~4 us a byte (a long array of small numbers), and a client's chunk may
        be 64 KiB, which must not hold up Raft's ticks on the same loop."""
        if len(chunk) <= FEED_STEP_BYTES:
            return self.feed(chunk)
        values: list[object] = []
        for start in range(0, len(chunk), FEED_STEP_BYTES):
            if start:
                await asyncio.sleep(0)
            values += self.feed(chunk[start : start + FEED_STEP_BYTES])
        return values

    def finish(self) -> list[object]:
        """The body ended: a number at the top level is complete; any other unfinished
        value is Go's "unexpected EOF"."""
        if self.error is not None or self._state == _TOP:
            return []
        if self._state in _NUMBER_DONE and not self._open:
            values = self._values([(self._start, len(self._buffer))])
            self._state = _TOP
        else:
            values = []
            self._fail(self._syntax_error(len(self._buffer)))
        self._compact()
        return values

    # ---- internals ---------------------------------------------------------------------

    def _fail(self, error: GoSyntaxError | ValueTooLarge) -> None:
        self.error = error
        self._state = _FAILED
        self._buffer = bytearray()
        self._position = self._start = 0

    def _syntax_error(self, end: int) -> GoSyntaxError:
        """Go's message for the unfinished value cut at `end` (just past the offending
        byte), from the same scanner `parse_body` uses."""
        try:
            next_value(bytes(self._buffer[self._start : end]))
        except GoSyntaxError as error:
            return error
        return GoSyntaxError("unexpected EOF")  # pragma: no cover - scanners agree

    def _values(self, spans: list[tuple[int, int]]) -> list[object]:
        values: list[object] = []
        for start, end in spans:
            if end - start > self.limit:
                self._fail(ValueTooLarge(end - start))
                break
            values.append(parse_body(bytes(self._buffer[start:end])))
        return values

    def _compact(self) -> None:
        """Drop what was consumed: everything before the unfinished value."""
        keep = self._start if self._state != _TOP else self._position
        if keep:
            del self._buffer[:keep]
            self._position -= keep
            self._start = 0

    def _scan(self) -> tuple[list[tuple[int, int]], GoSyntaxError | None]:
        """Advance over the new bytes: the spans of the values completed, and the
        syntax error that stopped the scan, if one did.

        Each step scans one token (or the part of it that has arrived) and returns the
        next position and state; `_FAILED` leaves the position at the offending byte."""
        buffer = self._buffer
        size = len(buffer)
        position = scanned_from = self._position
        state = self._state
        spans: list[tuple[int, int]] = []
        while position < size:
            if state == _STRING:
                position, state = self._string(buffer, position, spans)
            elif state <= _NEXT:
                position, state = self._structure(buffer, position, state, spans)
            elif state == _LITERAL:
                position, state = self._literal_byte(buffer[position], position, spans)
            elif state <= _UNICODE:
                position, state = self._escape(buffer[position], position, state)
            else:
                position, state = self._number(buffer, position, state, spans)
            if state == _FAILED:
                # A syntax error at `position`: Go's decoder stops at this byte.
                self.bytes_scanned += position - scanned_from + 1
                self._position, self._state = position, state
                return spans, self._syntax_error(position + 1)
        self.bytes_scanned += position - scanned_from
        self._position, self._state = position, state
        return spans, None

    def _string(
        self, buffer: bytearray, position: int, spans: list[tuple[int, int]]
    ) -> tuple[int, int]:
        """Inside a string: skip to its end, an escape or a (forbidden) control byte."""
        found = _STRING_STOP.search(buffer, position)
        if found is None:
            return len(buffer), _STRING
        position = found.start()
        byte = buffer[position]
        if byte == _QUOTE:
            if self._key:
                return position + 1, _COLON
            return position + 1, self._value_ended(position + 1, spans)
        if byte == _BACKSLASH:
            return position + 1, _ESCAPE
        return position, _FAILED

    def _structure(
        self, buffer: bytearray, position: int, state: int, spans: list[tuple[int, int]]
    ) -> tuple[int, int]:
        """Between tokens: skip white space, then the byte a value, key, colon, comma or
        closing bracket must start with."""
        found = _NOT_SPACE.search(buffer, position)
        if found is None:
            return len(buffer), state
        position = found.start()
        byte = buffer[position]
        if state <= _VALUE_OR_CLOSE:
            if state == _TOP:
                self._start = position
            elif state == _VALUE_OR_CLOSE and byte == _CLOSE_ARRAY:
                return self._close(_OPEN_ARRAY, position, spans)
            return self._value_start(byte, position)
        if state <= _KEY:
            if byte == _QUOTE:
                self._key = True
                return position + 1, _STRING
            if state == _KEY_OR_CLOSE and byte == _CLOSE_OBJECT:
                return self._close(_OPEN_OBJECT, position, spans)
            return position, _FAILED
        if state == _COLON:
            return (position + 1, _VALUE) if byte == _COLON_BYTE else (position, _FAILED)
        # _NEXT: a comma or the end of the container
        if byte == _COMMA:
            return position + 1, _KEY if self._open[-1] == _OPEN_OBJECT else _VALUE
        if byte == _CLOSE_OBJECT:
            return self._close(_OPEN_OBJECT, position, spans)
        if byte == _CLOSE_ARRAY:
            return self._close(_OPEN_ARRAY, position, spans)
        return position, _FAILED

    def _value_start(self, byte: int, position: int) -> tuple[int, int]:
        """The first byte of a value decides its kind."""
        if byte in _OPEN:
            if len(self._open) >= 10_000:  # Go's maximum nesting depth
                return position, _FAILED
            self._open.append(byte)
            return position + 1, _OPEN[byte]
        if byte == _QUOTE:
            self._key = False
            return position + 1, _STRING
        if byte == _MINUS_BYTE:
            return position + 1, _MINUS
        if byte == _ZERO_BYTE:
            return position + 1, _ZERO
        if byte in _NONZERO:
            return position + 1, _INTEGER
        if byte in _LITERALS:
            self._literal = _LITERALS[byte]
            self._pending = 1
            return position + 1, _LITERAL
        return position, _FAILED

    def _escape(self, byte: int, position: int, state: int) -> tuple[int, int]:
        """After a backslash, and inside \\uXXXX."""
        if state == _ESCAPE:
            if byte == ord("u"):
                self._pending = 4
                return position + 1, _UNICODE
            if byte in _ESCAPES:
                return position + 1, _STRING
            return position, _FAILED
        if byte not in _HEX:
            return position, _FAILED
        self._pending -= 1
        return position + 1, _STRING if self._pending == 0 else _UNICODE

    def _literal_byte(
        self, byte: int, position: int, spans: list[tuple[int, int]]
    ) -> tuple[int, int]:
        """One byte of true, false or null."""
        if byte != self._literal[self._pending]:
            return position, _FAILED
        self._pending += 1
        if self._pending < len(self._literal):
            return position + 1, _LITERAL
        return position + 1, self._value_ended(position + 1, spans)

    def _number(
        self, buffer: bytearray, position: int, state: int, spans: list[tuple[int, int]]
    ) -> tuple[int, int]:
        """A number, after Go's grammar: runs of digits are skipped in C; the byte after
        a complete number ends it and is scanned again."""
        if state in (_INTEGER, _FRACTION, _EXPONENT_DIGITS):
            found = _NOT_DIGIT.search(buffer, position)
            if found is None:
                return len(buffer), state
            position = found.start()
        byte = buffer[position]
        if state == _MINUS:
            if byte not in _DIGITS:
                return position, _FAILED
            return position + 1, _ZERO if byte == _ZERO_BYTE else _INTEGER
        if state == _POINT:
            return (position + 1, _FRACTION) if byte in _DIGITS else (position, _FAILED)
        if state == _EXPONENT:
            if byte in b"+-":
                return position + 1, _EXPONENT_SIGN
            if byte in _DIGITS:
                return position + 1, _EXPONENT_DIGITS
            return position, _FAILED
        if state == _EXPONENT_SIGN:
            return (position + 1, _EXPONENT_DIGITS) if byte in _DIGITS else (position, _FAILED)
        if byte == _POINT_BYTE and state in (_ZERO, _INTEGER):
            return position + 1, _POINT
        if byte in b"eE" and state in (_ZERO, _INTEGER, _FRACTION):
            return position + 1, _EXPONENT
        return position, self._value_ended(position, spans)

    def _close(self, expected: int, position: int, spans: list[tuple[int, int]]) -> tuple[int, int]:
        """A closing bracket at `position`, which must match the innermost open one."""
        opened = self._open
        if opened[-1] != expected:
            return position, _FAILED
        opened.pop()
        return position + 1, self._value_ended(position + 1, spans)

    def _value_ended(self, end: int, spans: list[tuple[int, int]]) -> int:
        """A value ended just before `end`: its container goes on, or a top-level value
        is complete."""
        if self._open:
            return _NEXT
        spans.append((self._start, end))
        return _TOP
