"""Storage-level failures. The API layer maps each one to etcd's error in one table."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of errors the storage layer reports to its callers."""


class CompactedError(StorageError):
    """The requested revision is at or below the compaction point."""


class ReadOvertakenError(CompactedError):
    """A compaction passed the revision of a stepped read while it was in progress:
    reading again (at the now current revision, or to learn that the requested one is
    compacted) gives the answer."""


class FutureRevisionError(StorageError):
    """The requested revision is above the store's current revision."""


class KeyNotFoundError(StorageError):
    """An operation that needs an existing key found none (ignore_value, ignore_lease)."""


class LeaseNotFoundError(StorageError):
    """The lease named by a request does not exist."""


class LeaseExistsError(StorageError):
    """A grant named a lease ID that is already in use."""
