"""What the server answers with: response dicts in proto field order whose values are
native (ints, bytes, lists, dicts) or these records; the face encodes them."""

from __future__ import annotations

from keyraft.storage.mvcc.record import KeyValue

__all__ = ["KeyValue"]
