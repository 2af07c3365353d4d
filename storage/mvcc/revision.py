"""Revision encoding for backend keys.

A revision is (main, sub): main is bumped once per write transaction, sub orders the
changes inside it. The backend key is 8-byte big-endian main, b"_", 8-byte big-endian sub,
so byte order is revision order; a tombstone (a deletion) appends b"t".
"""

from __future__ import annotations

import struct

_REVISION = struct.Struct(">Qc Q".replace(" ", ""))
REVISION_BYTES = _REVISION.size
TOMBSTONE_MARK = b"t"


def encode_revision(main: int, sub: int, tombstone: bool = False) -> bytes:
    key = _REVISION.pack(main, b"_", sub)
    return key + TOMBSTONE_MARK if tombstone else key


def decode_revision(key: bytes) -> tuple[int, int, bool]:
    """Return (main, sub, is_tombstone) of a backend key."""
    main, _sep, sub = _REVISION.unpack_from(key)
    return main, sub, len(key) > REVISION_BYTES and key[REVISION_BYTES:] == TOMBSTONE_MARK


def revision_prefix(main: int) -> bytes:
    """The smallest backend key of a main revision: iterate from here to read it."""
    return _REVISION.pack(main, b"_", 0)
