"""Key arithmetic shared by the server and the CLI."""

from __future__ import annotations


def prefix_end(key: bytes) -> bytes:
    """The range end covering every key starting with `key` (etcd's `GetPrefixRangeEnd`);
    "\\0" (every key) when no such end exists."""
    end = bytearray(key)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\x00"
