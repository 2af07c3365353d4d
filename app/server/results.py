"""What the server answers with: response dicts in proto field order whose values are
native (ints, bytes, lists, dicts) or these records; the face encodes them. A large range
inside a write transaction answers with `DeferredRecords`, read as they are encoded."""

from __future__ import annotations

from keyraft.storage.mvcc.record import KeyValue
from keyraft.storage.mvcc.store import DeferredRecords

__all__ = ["DeferredRecords", "KeyValue"]
