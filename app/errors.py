"""etcd's error table: gRPC codes, HTTP statuses and messages, word for word.

Clients match on these messages, so they are copied exactly from what etcd 3.4 answers.
Every failure the API can report is an `EtcdError`; storage errors map to one here.
"""

from __future__ import annotations

from keyraft.storage import errors as storage_errors

# gRPC code -> HTTP status, as etcd 3.4.23's grpc-gateway answers them.
HTTP_STATUS = {
    0: 200,
    1: 408,
    2: 500,
    3: 400,
    4: 504,
    5: 404,
    6: 409,
    7: 403,
    8: 429,
    9: 412,
    10: 409,
    11: 400,
    12: 501,
    13: 500,
    14: 503,
    15: 500,
    16: 401,
}

INVALID_ARGUMENT = 3
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
OUT_OF_RANGE = 11
UNAVAILABLE = 14


class EtcdError(Exception):
    """An error answered to the client as {"error", "message", "code"}."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def invalid(message: str) -> EtcdError:
    return EtcdError(INVALID_ARGUMENT, message)


def key_not_provided() -> EtcdError:
    return invalid("etcdserver: key is not provided")


def key_not_found() -> EtcdError:
    return invalid("etcdserver: key not found")


def value_provided() -> EtcdError:
    return invalid("etcdserver: value is provided")


def lease_provided() -> EtcdError:
    return invalid("etcdserver: lease is provided")


def too_many_ops() -> EtcdError:
    return invalid("etcdserver: too many operations in txn request")


def duplicate_key() -> EtcdError:
    return invalid("etcdserver: duplicate key given in txn request")


def request_too_large() -> EtcdError:
    return invalid("etcdserver: request is too large")


def invalid_sort_option() -> EtcdError:
    return invalid("etcdserver: invalid sort option")


def compacted() -> EtcdError:
    return EtcdError(OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted")


def future_revision() -> EtcdError:
    return EtcdError(OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision")


def lease_not_found() -> EtcdError:
    return EtcdError(NOT_FOUND, "etcdserver: requested lease not found")


def lease_exists() -> EtcdError:
    return EtcdError(FAILED_PRECONDITION, "etcdserver: lease already exists")


def lease_ttl_too_large() -> EtcdError:
    return EtcdError(OUT_OF_RANGE, "etcdserver: too large lease TTL")


def message_too_large(size: int, limit: int) -> EtcdError:
    return EtcdError(
        RESOURCE_EXHAUSTED, f"grpc: received message larger than max ({size} vs. {limit})"
    )


def no_space() -> EtcdError:
    return EtcdError(RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded")


def no_leader() -> EtcdError:
    return EtcdError(UNAVAILABLE, "etcdserver: no leader")


def request_timed_out() -> EtcdError:
    return EtcdError(UNAVAILABLE, "etcdserver: request timed out")


def server_stopped() -> EtcdError:
    return EtcdError(UNAVAILABLE, "etcdserver: server stopped")


_FROM_STORAGE = {
    storage_errors.CompactedError: compacted,
    storage_errors.FutureRevisionError: future_revision,
    storage_errors.KeyNotFoundError: key_not_found,
    storage_errors.LeaseNotFoundError: lease_not_found,
    storage_errors.LeaseExistsError: lease_exists,
}


def from_storage(error: storage_errors.StorageError) -> EtcdError:
    return _FROM_STORAGE[type(error)]()
