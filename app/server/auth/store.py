"""The auth store: users, roles, their permissions, the enabled flag and the auth revision.

It is part of the replicated state: every change arrives as a committed proposal, is
applied on every member in log order and written to the "auth" column family in the
entry's own batch (beside the consistent index), so it survives restarts and travels in
snapshots. The revision is bumped by every change (etcd's `commitRevision`), except by
enable, as in etcd; a request whose permissions were read at an older revision is refused
at apply ("revision of auth store is old"). Tokens are memory only (`tokens`), per member,
as in etcd.
"""

from __future__ import annotations

import bisect
from typing import NamedTuple

import msgpack

from keyraft.app.server import errors
from keyraft.app.server.auth.perms import Permission, Permissions
from keyraft.app.server.auth.tokens import SimpleTokens, TokenProvider
from keyraft.app.server.requests import (
    NO_PERMISSION,
    AuthChange,
    AuthDisable,
    AuthEnable,
    AuthenticateAs,
    RoleAdd,
    RoleDelete,
    RoleGrantPermission,
    RoleRevokePermission,
    UserAdd,
    UserChangePassword,
    UserDelete,
    UserGrantRole,
    UserRevokeRole,
)
from keyraft.storage.backend import Backend, Writes
from keyraft.storage.mvcc.store import decode_int, encode_int

FAMILY = "auth"
ROOT = "root"
_ENABLED = b"enabled"
_REVISION = b"revision"
_USER = b"user/"
_ROLE = b"role/"


class User(NamedTuple):
    name: str
    password: bytes  # bcrypt hash (empty for a user without password)
    roles: tuple[str, ...]  # sorted
    no_password: bool


class AuthInfo(NamedTuple):
    """Who a request comes from; revision 0 means no user at all."""

    user: str
    revision: int


NOBODY = AuthInfo("", 0)


# How users, roles and the flags are stored (also built by etcd_import from etcd's).


def user_record(user: User) -> tuple[bytes, bytes]:
    value = msgpack.packb([user.password, list(user.roles), user.no_password])
    return _USER + user.name.encode(), value


def role_record(name: str, perms: tuple[Permission, ...]) -> tuple[bytes, bytes]:
    return _ROLE + name.encode(), msgpack.packb([list(perm) for perm in perms])


def flag_records(enabled: bool, revision: int) -> list[tuple[bytes, bytes]]:
    return [(_ENABLED, b"\x01" if enabled else b"\x00"), (_REVISION, encode_int(revision))]


class AuthStore:
    def __init__(self, backend: Backend, tokens: TokenProvider | None = None) -> None:
        self.backend = backend
        self.tokens: TokenProvider = tokens or SimpleTokens()
        self.load()

    def load(self) -> None:
        """(Re)read everything from the backend: at start and after a snapshot."""
        get = self.backend.get
        self.enabled = get(FAMILY, _ENABLED) == b"\x01"
        self.revision = decode_int(get(FAMILY, _REVISION), 1)
        self.users: dict[str, User] = {}
        self.roles: dict[str, tuple[Permission, ...]] = {}
        for key, value in self.backend.iterate(FAMILY, _USER, _USER[:-1] + b"0"):
            password, roles, no_password = msgpack.unpackb(value)
            name = key[len(_USER) :].decode()
            self.users[name] = User(name, password, tuple(roles), no_password)
        for key, value in self.backend.iterate(FAMILY, _ROLE, _ROLE[:-1] + b"0"):
            perms = tuple(Permission(*perm) for perm in msgpack.unpackb(value))
            self.roles[key[len(_ROLE) :].decode()] = perms
        self._merged: dict[str, Permissions] = {}
        if not self.enabled:
            self.tokens.disable()

    # ---- checks (etcd's isOpPermitted, IsAdminPermitted) -------------------------------

    def check(self, info: AuthInfo, writing: bool, key: bytes, range_end: bytes) -> None:
        """Raise unless `info` may read (write) [key, range_end); nothing when disabled."""
        if not self.enabled:
            return
        if info.revision == 0:
            raise errors.UserEmpty
        if info.revision < self.revision:
            raise errors.AuthOldRevision
        user = self.users.get(info.user)
        if user is None:
            raise errors.PermissionDenied
        if ROOT in user.roles:
            return
        merged = self._merged.get(user.name)
        if merged is None:
            merged = Permissions(perm for role in user.roles for perm in self.roles.get(role, ()))
            self._merged[user.name] = merged
        if not merged.allows(writing, key, range_end):
            raise errors.PermissionDenied

    def check_admin(self, info: AuthInfo) -> None:
        if not self.enabled:
            return
        if not info.user:
            raise errors.UserEmpty
        user = self.users.get(info.user)
        if user is None:
            raise errors.UserNotFound
        if ROOT not in user.roles:
            raise errors.PermissionDenied

    def is_admin(self, info: AuthInfo) -> bool:
        try:
            self.check_admin(info)
        except errors.ServerError:
            return False
        return True

    # ---- reads -------------------------------------------------------------------------

    def user(self, name: str) -> User:
        found = self.users.get(name)
        if found is None:
            raise errors.UserNotFound
        return found

    def role(self, name: str) -> tuple[Permission, ...]:
        found = self.roles.get(name)
        if found is None:
            raise errors.RoleNotFound
        return found

    # ---- apply (every member, in log order) --------------------------------------------

    def authenticate(self, request: AuthenticateAs, index: int) -> dict:
        """Register the token of a password the proposing member checked."""
        if not self.enabled:
            raise errors.AuthNotEnabled
        user = self.users.get(request.name)
        if user is None or user.no_password:
            raise errors.AuthFailed
        if not request.simple_token:
            return {"header": {}}
        token = f"{request.simple_token}.{index}"
        self.tokens.assign(token, request.name)
        return {"header": {}, "token": token}

    def apply(self, request: AuthChange, batch: Writes) -> dict:
        """Apply one change; a refused one raises and changes nothing."""
        match request:
            case AuthEnable():
                self._enable(batch)
                return {"header": {}}
            case AuthDisable():
                if not self.enabled:
                    return {"header": {}}
                self.enabled = False
                batch.put(FAMILY, _ENABLED, b"\x00")
                self.tokens.disable()
            case UserAdd(name, hashed, no_password):
                if not name:
                    raise errors.UserEmpty
                if name in self.users:
                    raise errors.UserAlreadyExists
                self._put_user(User(name, b"" if no_password else hashed, (), no_password), batch)
            case UserDelete(name):
                if self.enabled and name == ROOT:
                    raise errors.InvalidAuthManagement
                self.user(name)
                del self.users[name]
                batch.delete(FAMILY, _USER + name.encode())
                self.tokens.invalidate_user(name)
            case UserChangePassword(name, hashed):
                user = self.user(name)
                self._put_user(user._replace(password=hashed), batch)
                self.tokens.invalidate_user(name)
            case UserGrantRole(name, role):
                user = self.user(name)
                if role != ROOT:
                    self.role(role)
                if role in user.roles:
                    return {"header": {}}  # etcd answers OK and changes nothing
                roles = list(user.roles)
                bisect.insort(roles, role)
                self._put_user(user._replace(roles=tuple(roles)), batch)
            case UserRevokeRole(name, role):
                if self.enabled and name == ROOT and role == ROOT:
                    raise errors.InvalidAuthManagement
                user = self.user(name)
                if role not in user.roles:
                    raise errors.RoleNotGranted
                roles = tuple(item for item in user.roles if item != role)
                self._put_user(user._replace(roles=roles), batch)
            case RoleAdd(name):
                if not name:
                    raise errors.RoleEmpty
                if name in self.roles:
                    raise errors.RoleAlreadyExists
                self._put_role(name, (), batch)
            case RoleDelete(name):
                if self.enabled and name == ROOT:
                    raise errors.InvalidAuthManagement
                self.role(name)
                del self.roles[name]
                batch.delete(FAMILY, _ROLE + name.encode())
                for user in list(self.users.values()):
                    if name in user.roles:
                        roles = tuple(item for item in user.roles if item != name)
                        self._put_user(user._replace(roles=roles), batch)
            case RoleGrantPermission(name, perm_type, key, range_end):
                if perm_type == NO_PERMISSION:
                    raise errors.PermissionNotGiven
                perm = Permission(perm_type, key, range_end)
                self._put_role(name, _granted(self.role(name), perm), batch)
            case RoleRevokePermission(name, key, range_end):
                perms = self.role(name)
                kept = tuple(p for p in perms if (p.key, p.range_end) != (key, range_end))
                if len(kept) == len(perms):
                    raise errors.PermissionNotGranted
                self._put_role(name, kept, batch)
            case _:  # pragma: no cover - the codec admits no other
                raise errors.MalformedRequest
        self._bump(batch)
        return {"header": {}}

    def _enable(self, batch: Writes) -> None:
        if self.enabled:
            return
        root = self.users.get(ROOT)
        if root is None:
            raise errors.RootUserNotExist
        if ROOT not in root.roles:
            raise errors.RootRoleNotExist
        self.enabled = True
        batch.put(FAMILY, _ENABLED, b"\x01")
        self._merged.clear()

    def _put_user(self, user: User, batch: Writes) -> None:
        self.users[user.name] = user
        batch.put(FAMILY, *user_record(user))

    def _put_role(self, name: str, perms: tuple[Permission, ...], batch: Writes) -> None:
        self.roles[name] = perms
        batch.put(FAMILY, *role_record(name, perms))

    def _bump(self, batch: Writes) -> None:
        self.revision += 1
        batch.put(FAMILY, _REVISION, encode_int(self.revision))
        self._merged.clear()


def _granted(perms: tuple[Permission, ...], perm: Permission) -> tuple[Permission, ...]:
    """etcd keeps a role's permissions sorted by key; granting the same interval again
    replaces its type."""
    for i, old in enumerate(perms):
        if (old.key, old.range_end) == (perm.key, perm.range_end):
            return (*perms[:i], perm, *perms[i + 1 :])
    at = bisect.bisect_left([old.key for old in perms], perm.key)
    return (*perms[:at], perm, *perms[at:])
