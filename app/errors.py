"""etcd's error table: every failure a client sees, as {"error", "message", "code"} with
grpc-gateway's HTTP status.

The server raises typed errors (`keyraft.app.server.errors`); this is the ONE place they
get their gRPC code, as etcd's v3rpc layer alone maps its server errors. Failures found by
the face itself (a body that is not JSON, a message too large to read) are `EtcdError`s.
"""

from __future__ import annotations

from keyraft.app.server import errors as server_errors

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

CANCELED = 1
UNKNOWN = 2
INVALID_ARGUMENT = 3
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
OUT_OF_RANGE = 11
INTERNAL = 13
UNAVAILABLE = 14
DATA_LOSS = 15
UNAUTHENTICATED = 16

GRPC_CODE: dict[type[server_errors.ServerError], int] = {
    server_errors.KeyNotProvided: INVALID_ARGUMENT,
    server_errors.KeyNotFound: INVALID_ARGUMENT,
    server_errors.ValueProvided: INVALID_ARGUMENT,
    server_errors.LeaseProvided: INVALID_ARGUMENT,
    server_errors.TooManyOps: INVALID_ARGUMENT,
    server_errors.DuplicateKey: INVALID_ARGUMENT,
    server_errors.RequestTooLarge: INVALID_ARGUMENT,
    server_errors.InvalidSortOption: INVALID_ARGUMENT,
    server_errors.MalformedRequest: INTERNAL,
    server_errors.Compacted: OUT_OF_RANGE,
    server_errors.FutureRevision: OUT_OF_RANGE,
    server_errors.LeaseTTLTooLarge: OUT_OF_RANGE,
    server_errors.LeaseNotFound: NOT_FOUND,
    server_errors.LeaseExists: FAILED_PRECONDITION,
    server_errors.NoSpace: RESOURCE_EXHAUSTED,
    server_errors.Corrupt: DATA_LOSS,
    server_errors.MaintenanceUserEmpty: UNKNOWN,
    server_errors.MaintenancePermissionDenied: UNKNOWN,
    server_errors.NoLeader: UNAVAILABLE,
    server_errors.RequestTimedOut: UNAVAILABLE,
    server_errors.ServerStopped: UNAVAILABLE,
    # auth: codes as etcd 3.4.23 answers them (measured)
    server_errors.AuthNotEnabled: FAILED_PRECONDITION,
    server_errors.AuthFailed: INVALID_ARGUMENT,
    server_errors.NoPasswordUser: UNKNOWN,
    server_errors.InvalidAuthToken: UNAUTHENTICATED,
    server_errors.AuthOldRevision: INVALID_ARGUMENT,
    server_errors.PermissionDenied: PERMISSION_DENIED,
    server_errors.InvalidAuthManagement: INVALID_ARGUMENT,
    server_errors.RootUserNotExist: FAILED_PRECONDITION,
    server_errors.RootRoleNotExist: FAILED_PRECONDITION,
    server_errors.UserEmpty: INVALID_ARGUMENT,
    server_errors.UserAlreadyExists: FAILED_PRECONDITION,
    server_errors.UserNotFound: FAILED_PRECONDITION,
    server_errors.RoleEmpty: INVALID_ARGUMENT,
    server_errors.RoleAlreadyExists: FAILED_PRECONDITION,
    server_errors.RoleNotFound: FAILED_PRECONDITION,
    server_errors.RoleNotGranted: FAILED_PRECONDITION,
    server_errors.PermissionNotGranted: FAILED_PRECONDITION,
    server_errors.PermissionNotGiven: INVALID_ARGUMENT,
    # lock and election: etcd's embedded client makes every error code Unknown (measured)
    server_errors.ElectionNoLeader: UNKNOWN,
    server_errors.ElectionNotLeader: UNKNOWN,
    server_errors.MissingLeaderKey: UNKNOWN,
    server_errors.PassedOn: UNKNOWN,
    # membership: codes as etcd 3.4.23 answers them (measured)
    server_errors.InvalidPeerURLs: INVALID_ARGUMENT,
    server_errors.MemberIDExists: FAILED_PRECONDITION,
    server_errors.PeerURLExists: FAILED_PRECONDITION,
    server_errors.MemberNotFound: NOT_FOUND,
    server_errors.MemberNotLearner: FAILED_PRECONDITION,
    server_errors.LearnerNotReady: FAILED_PRECONDITION,
    server_errors.TooManyLearners: FAILED_PRECONDITION,
    server_errors.NotEnoughStartedMembers: UNKNOWN,
    server_errors.Unhealthy: UNAVAILABLE,
    server_errors.NotLeader: FAILED_PRECONDITION,
    server_errors.BadLeaderTransferee: FAILED_PRECONDITION,
    server_errors.LeaderTransferTimedOut: UNAVAILABLE,
    server_errors.NotSupportedForLearner: UNAVAILABLE,
    server_errors.MemberRemoved: UNAVAILABLE,
}

# gRPC code names, as a canceled watch's reason spells them ("rpc error: code = ...").
CODE_NAMES = {
    INVALID_ARGUMENT: "InvalidArgument",
    PERMISSION_DENIED: "PermissionDenied",
    FAILED_PRECONDITION: "FailedPrecondition",
    UNAUTHENTICATED: "Unauthenticated",
    UNKNOWN: "Unknown",
}


class EtcdError(Exception):
    """An error answered to the client as {"error", "message", "code"}."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)


def from_server(error: server_errors.ServerError) -> EtcdError:
    return EtcdError(GRPC_CODE.get(type(error), UNKNOWN), error.message)


def rpc_reason(error: EtcdError | server_errors.ServerError) -> str:
    """An error as gRPC's Go client prints it (a refused watch's cancel_reason)."""
    failure = as_etcd(error)
    return f"rpc error: code = {CODE_NAMES.get(failure.code, 'Unknown')} desc = {failure.message}"


def as_etcd(error: EtcdError | server_errors.ServerError) -> EtcdError:
    return error if isinstance(error, EtcdError) else from_server(error)


def invalid(message: str) -> EtcdError:
    return EtcdError(INVALID_ARGUMENT, message)


def key_not_provided() -> EtcdError:
    return from_server(server_errors.KeyNotProvided())


def message_too_large(size: int, limit: int) -> EtcdError:
    return EtcdError(
        RESOURCE_EXHAUSTED, f"grpc: received message larger than max ({size} vs. {limit})"
    )
