"""The server's typed errors: one class per way a request can fail, named for what went
wrong. The messages are etcd's, word for word (clients match on them); which gRPC code and
HTTP status each one gets is the face's business (`keyraft.app.errors`), as etcd's v3rpc
layer alone maps its server errors.
"""

from __future__ import annotations

from keyraft.storage import errors as storage_errors


class ServerError(Exception):
    """A request the server refused or could not complete."""

    message = "etcdserver: unknown error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message if message is not None else type(self).message
        super().__init__(self.message)


# ---- the request is wrong ------------------------------------------------------------------


class KeyNotProvided(ServerError):
    message = "etcdserver: key is not provided"


class KeyNotFound(ServerError):
    message = "etcdserver: key not found"


class ValueProvided(ServerError):
    message = "etcdserver: value is provided"


class LeaseProvided(ServerError):
    message = "etcdserver: lease is provided"


class TooManyOps(ServerError):
    message = "etcdserver: too many operations in txn request"


class DuplicateKey(ServerError):
    message = "etcdserver: duplicate key given in txn request"


class RequestTooLarge(ServerError):
    message = "etcdserver: request is too large"


class InvalidSortOption(ServerError):
    message = "etcdserver: invalid sort option"


class MalformedRequest(ServerError):
    """A log entry that does not decode to a known request: every member answers this,
    none crashes."""

    message = "etcdserver: malformed request"


# ---- the request names what is not there --------------------------------------------------


class Compacted(ServerError):
    message = "etcdserver: mvcc: required revision has been compacted"


class FutureRevision(ServerError):
    message = "etcdserver: mvcc: required revision is a future revision"


class LeaseNotFound(ServerError):
    message = "etcdserver: requested lease not found"


class LeaseExists(ServerError):
    message = "etcdserver: lease already exists"


class LeaseTTLTooLarge(ServerError):
    message = "etcdserver: too large lease TTL"


# ---- the cluster cannot serve it now -------------------------------------------------------


class NoSpace(ServerError):
    message = "etcdserver: mvcc: database space exceeded"


class Corrupt(ServerError):
    message = "etcdserver: corrupt cluster"


class NoLeader(ServerError):
    message = "etcdserver: no leader"


class RequestTimedOut(ServerError):
    message = "etcdserver: request timed out"


class ServerStopped(ServerError):
    message = "etcdserver: server stopped"


# ---- authentication and access control ---------------------------------------------------


class AuthNotEnabled(ServerError):
    message = "etcdserver: authentication is not enabled"


class AuthFailed(ServerError):
    message = "etcdserver: authentication failed, invalid user ID or password"


class NoPasswordUser(ServerError):
    """etcd 3.4 answers this one with gRPC code Unknown (HTTP 500), as measured."""

    message = "auth: authentication failed, password was given for no password user"


class InvalidAuthToken(ServerError):
    message = "etcdserver: invalid auth token"


class AuthOldRevision(ServerError):
    """The auth store changed after the request's permissions were decided."""

    message = "etcdserver: revision of auth store is old"


class PermissionDenied(ServerError):
    message = "etcdserver: permission denied"


class InvalidAuthManagement(ServerError):
    message = "etcdserver: invalid auth management"


class RootUserNotExist(ServerError):
    message = "etcdserver: root user does not exist"


class RootRoleNotExist(ServerError):
    message = "etcdserver: root user does not have root role"


class UserEmpty(ServerError):
    message = "etcdserver: user name is empty"


# Maintenance RPCs restricted to root (snapshot, defragment, hash) answer auth's own errors,
# untranslated, with gRPC code Unknown (measured on etcd 3.4.23).
class MaintenanceUserEmpty(ServerError):
    message = "auth: user name is empty"


class MaintenancePermissionDenied(ServerError):
    message = "auth: permission denied"


class UserAlreadyExists(ServerError):
    message = "etcdserver: user name already exists"


class UserNotFound(ServerError):
    message = "etcdserver: user name not found"


class RoleEmpty(ServerError):
    message = "etcdserver: role name is empty"


class RoleAlreadyExists(ServerError):
    message = "etcdserver: role name already exists"


class RoleNotFound(ServerError):
    message = "etcdserver: role name not found"


class RoleNotGranted(ServerError):
    message = "etcdserver: role is not granted to the user"


class PermissionNotGranted(ServerError):
    message = "etcdserver: permission is not granted to the role"


class PermissionNotGiven(ServerError):
    """A grant without a permission (etcd 3.4 crashes on it; 3.5 answers this)."""

    message = "etcdserver: permission not given"


# ---- lock and election (etcd answers these with gRPC code Unknown) ----------------------


class ElectionNoLeader(ServerError):
    message = "election: no leader"


class ElectionNotLeader(ServerError):
    message = "election: not leader"


class MissingLeaderKey(ServerError):
    message = '"leader" field must be provided'


class PassedOn(ServerError):
    """A KV error met by the lock or election service. etcd serves them through an
    embedded client, which turns the error into a plain one: the client sees its message
    with gRPC code Unknown, whatever its own code was."""

    message = "etcdserver: error passed on by a lock or election"

    def __init__(self, error: ServerError) -> None:
        super().__init__(error.message)
        self.cause = error


# ---- membership (codes in app/errors.py, as etcd 3.4.23 answers them) --------------------


class InvalidPeerURLs(ServerError):
    message = "etcdserver: given member URLs are invalid"


class MemberIDExists(ServerError):
    message = "etcdserver: member ID already exist"


class PeerURLExists(ServerError):
    message = "etcdserver: Peer URLs already exists"


class MemberNotFound(ServerError):
    message = "etcdserver: member not found"


class MemberNotLearner(ServerError):
    message = "etcdserver: can only promote a learner member"


class LearnerNotReady(ServerError):
    message = "etcdserver: can only promote a learner member which is in sync with leader"


class TooManyLearners(ServerError):
    message = "etcdserver: too many learner members in cluster"


class NotEnoughStartedMembers(ServerError):
    message = "etcdserver: re-configuration failed due to not enough started members"


class Unhealthy(ServerError):
    message = "etcdserver: unhealthy cluster"


class NotLeader(ServerError):
    message = "etcdserver: not leader"


class BadLeaderTransferee(ServerError):
    message = "etcdserver: bad leader transferee"


class LeaderTransferTimedOut(ServerError):
    message = "etcdserver: request timed out, leader transfer took too long"


class NotSupportedForLearner(ServerError):
    message = "etcdserver: rpc not supported for learner"


class MemberRemoved(ServerError):
    """This member was removed from the cluster: it stops, and never serves again."""

    message = "the member has been permanently removed from the cluster"


_FROM_STORAGE: dict[type[storage_errors.StorageError], type[ServerError]] = {
    storage_errors.CompactedError: Compacted,
    storage_errors.ReadOvertakenError: Compacted,
    storage_errors.FutureRevisionError: FutureRevision,
    storage_errors.KeyNotFoundError: KeyNotFound,
    storage_errors.LeaseNotFoundError: LeaseNotFound,
    storage_errors.LeaseExistsError: LeaseExists,
}


def from_storage(error: storage_errors.StorageError) -> ServerError:
    return _FROM_STORAGE[type(error)]()


def _all_classes() -> list[type[ServerError]]:
    found: list[type[ServerError]] = []
    pending = [ServerError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


_BY_MESSAGE = {cls.message: cls for cls in _all_classes() if cls is not ServerError}


def from_message(message: str) -> ServerError:
    """The typed error another member answered with (by etcd's message); unknown messages
    stay a plain ServerError carrying the text."""
    cls = _BY_MESSAGE.get(message)
    return cls() if cls is not None else ServerError(message)
