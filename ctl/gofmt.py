"""Go's text formatting, reproduced where etcdctl's output depends on it.

etcdctl prints with `%q`, `time.Duration.String` and go-humanize; matching its output
byte for byte means doing the same here.
"""

from __future__ import annotations

import math
import re

_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def quote(data: bytes | str) -> str:
    """Go's `%q` of a string: invalid UTF-8 bytes become `\\xNN`, unprintable runes escaped."""
    raw = data.encode() if isinstance(data, str) else data
    out = ['"']
    index = 0
    while index < len(raw):
        char, width = _decode_rune(raw, index)
        if char is None:
            out.append(f"\\x{raw[index]:02x}")
            index += 1
            continue
        index += width
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif code in _ESCAPES:
            out.append(_ESCAPES[code])
        elif char == " " or (char.isprintable() and code != 0x7F):
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _decode_rune(raw: bytes, index: int) -> tuple[str | None, int]:
    first = raw[index]
    if first < 0x80:
        return chr(first), 1
    width = (
        2
        if first >> 5 == 0b110
        else 3
        if first >> 4 == 0b1110
        else 4
        if first >> 3 == 0b11110
        else 0
    )
    if width == 0:
        return None, 1
    try:
        return raw[index : index + width].decode("utf-8"), width
    except UnicodeDecodeError:
        return None, 1


def humanize_bytes(size: int) -> str:
    """go-humanize's `Bytes` (SI units), as etcdctl prints a database size."""
    if size < 10:
        return f"{size} B"
    suffixes = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    exponent = math.floor(math.log(size) / math.log(1000))
    value = math.floor(size / 1000**exponent * 10 + 0.5) / 10
    text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return f"{text} {suffixes[exponent]}"


def duration(seconds: float) -> str:
    """Go's `time.Duration.String()`, e.g. `1.1806ms`, `850µs`, `2.5s`, `1m30s`."""
    nanos = round(seconds * 1e9)
    if nanos == 0:
        return "0s"
    sign = "-" if nanos < 0 else ""
    nanos = abs(nanos)
    if nanos < 1000:
        return f"{sign}{nanos}ns"
    if nanos < 1_000_000:
        return sign + _decimal(nanos, 1000) + "µs"
    if nanos < 1_000_000_000:
        return sign + _decimal(nanos, 1_000_000) + "ms"
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


_DIGITS = {10: re.compile(r"[+-]?[0-9]+"), 16: re.compile(r"[+-]?[0-9a-fA-F]+")}


def parse_int(text: str, base: int = 10, bits: int = 64, unsigned: bool = False) -> int:
    """Go's strconv.ParseInt (ParseUint if `unsigned`) for base 0, 10 or 16 (base 0: a
    0x/0o/0b prefix picks it, as pflag's int flags parse); ValueError carries Go's words,
    which etcdctl prints."""
    if base not in (0, *_DIGITS):
        raise NotImplementedError(f"base {base}")
    function = "ParseUint" if unsigned else "ParseInt"
    try:
        if unsigned and text[:1] in ("+", "-"):
            raise ValueError  # ParseUint takes no sign
        if base and not _DIGITS[base].fullmatch(text):  # bases 0, 10 and 16 are used
            raise ValueError  # Python's int() also takes spaces, `_` and a 0x prefix
        value = int(text, base) if base else int(text, 0)
    except ValueError:
        value = None
        if base == 0:  # Go reads a leading 0 as octal; Python's base 0 refuses it
            value = _octal(text)
        if value is None:
            raise ValueError(f'strconv.{function}: parsing "{text}": invalid syntax') from None
    low, high = (0, 2**bits) if unsigned else (-(2 ** (bits - 1)), 2 ** (bits - 1))
    if not low <= value < high:
        raise ValueError(f'strconv.{function}: parsing "{text}": value out of range')
    return value


def _octal(text: str) -> int | None:
    digits = text.lstrip("+-")
    if len(digits) > 1 and digits.startswith("0") and digits.isdigit():
        try:
            return int(text, 8)
        except ValueError:
            return None
    return None


def flag_error(flag: str, value: str, cause: object) -> str:
    """pflag's message for a flag value it cannot parse."""
    return f'invalid argument "{value}" for "{flag}" flag: {cause}'
