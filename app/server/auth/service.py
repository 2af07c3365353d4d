"""The Auth service of etcd's API (`/v3/auth/*`), knowing no HTTP.

Changes are proposed through Raft and checked at apply (`guard`, `store`); reads of
users and roles are served locally after a linearizable barrier, with etcd's admin
check (a user may read itself and its own roles). Passwords are hashed and checked
before anything is proposed, in a worker thread (`passwords`); the log only ever holds
hashes and tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from keyraft.app.server import errors
from keyraft.app.server.auth.passwords import hash_password, password_matches
from keyraft.app.server.auth.store import NOBODY, AuthInfo, AuthStore
from keyraft.app.server.requests import (
    AuthDisable,
    AuthEnable,
    Authenticate,
    AuthenticateAs,
    AuthStatus,
    ChangePasswordRequest,
    PermType,
    Proposal,
    RoleAdd,
    RoleDelete,
    RoleGet,
    RoleGrantPermission,
    RoleList,
    RoleRevokePermission,
    UserAdd,
    UserAddRequest,
    UserChangePassword,
    UserDelete,
    UserGet,
    UserGrantRole,
    UserList,
    UserRevokeRole,
)

Propose = Callable[[Proposal, AuthInfo | None], Awaitable[dict]]
# A user's password is checked at most this many times while auth changes under it.
AUTHENTICATE_ATTEMPTS = 5


class AuthService:
    def __init__(
        self,
        store: AuthStore,
        propose: Propose,
        barrier: Callable[[], Awaitable[None]],
        revision: Callable[[], int],
        bcrypt_cost: int,
    ) -> None:
        self.store = store
        self._propose = propose
        self._barrier = barrier
        self._revision = revision
        self.bcrypt_cost = bcrypt_cost

    def info(self, token: str | None) -> AuthInfo:
        """Who a token stands for (NOBODY without one); a bad token is refused."""
        if token is None:
            return NOBODY
        found = self.store.tokens.info(token)
        if found is None:
            raise errors.InvalidAuthToken
        user, revision = found
        return AuthInfo(user, self.store.revision if revision is None else revision)

    # ---- enable, disable, status, authenticate -----------------------------------------

    async def enable(self, _request: AuthEnable, info: AuthInfo | None = None) -> dict:
        return await self._propose(AuthEnable(), info)

    async def disable(self, _request: AuthDisable, info: AuthInfo | None = None) -> dict:
        return await self._propose(AuthDisable(), info)

    async def status(self, _request: AuthStatus, info: AuthInfo | None = None) -> dict:
        """etcd 3.5's AuthStatus (3.4 has none)."""
        await self._barrier()
        return {
            "header": self._header(),
            "enabled": self.store.enabled,
            "authRevision": self.store.revision,
        }

    async def authenticate(self, request: Authenticate, info: AuthInfo | None = None) -> dict:
        store = self.store
        for _ in range(AUTHENTICATE_ATTEMPTS):
            if not store.enabled:
                raise errors.AuthNotEnabled
            user = store.users.get(request.name)
            if user is None:
                raise errors.AuthFailed
            if user.no_password:
                raise errors.NoPasswordUser
            checked = store.revision
            if not await password_matches(request.password, user.password):
                raise errors.AuthFailed
            issued = AuthenticateAs(request.name, store.tokens.prefix())
            response = await self._propose(issued, None)
            if checked == store.revision:  # else the user changed meanwhile: check again
                if "token" not in response:
                    response["token"] = store.tokens.sign(request.name, store.revision) or ""
                return response
        raise errors.AuthOldRevision

    # ---- users -------------------------------------------------------------------------

    async def user_add(self, request: UserAddRequest, info: AuthInfo | None = None) -> dict:
        self._precheck_admin(info)
        hashed = b""
        if not request.no_password:
            hashed = await hash_password(request.password, self.bcrypt_cost)
        return await self._propose(UserAdd(request.name, hashed, request.no_password), info)

    async def user_change_password(
        self, request: ChangePasswordRequest, info: AuthInfo | None = None
    ) -> dict:
        self._precheck_admin(info)
        hashed = await hash_password(request.password, self.bcrypt_cost)
        return await self._propose(UserChangePassword(request.name, hashed), info)

    async def user_get(self, request: UserGet, info: AuthInfo | None = None) -> dict:
        await self._barrier()
        if not self.store.is_admin(info or NOBODY) and request.name != (info or NOBODY).user:
            self.store.check_admin(info or NOBODY)
        user = self.store.user(request.name)
        return {"header": self._header(), "roles": list(user.roles)}

    async def user_list(self, _request: UserList, info: AuthInfo | None = None) -> dict:
        await self._barrier()
        self.store.check_admin(info or NOBODY)
        return {"header": self._header(), "users": sorted(self.store.users)}

    async def user_delete(self, request: UserDelete, info: AuthInfo | None = None) -> dict:
        return await self._propose(request, info)

    async def user_grant(self, request: UserGrantRole, info: AuthInfo | None = None) -> dict:
        return await self._propose(request, info)

    async def user_revoke(self, request: UserRevokeRole, info: AuthInfo | None = None) -> dict:
        return await self._propose(request, info)

    # ---- roles -------------------------------------------------------------------------

    async def role_add(self, request: RoleAdd, info: AuthInfo | None = None) -> dict:
        return await self._propose(request, info)

    async def role_get(self, request: RoleGet, info: AuthInfo | None = None) -> dict:
        await self._barrier()
        store = self.store
        who = info or NOBODY
        if not store.is_admin(who):
            user = store.users.get(who.user)
            if user is None or request.role not in user.roles:
                store.check_admin(who)
        perms = [
            {"permType": _perm_type(perm.perm_type), "key": perm.key, "range_end": perm.range_end}
            for perm in store.role(request.role)
        ]
        return {"header": self._header(), "perm": perms}

    async def role_list(self, _request: RoleList, info: AuthInfo | None = None) -> dict:
        await self._barrier()
        self.store.check_admin(info or NOBODY)
        return {"header": self._header(), "roles": sorted(self.store.roles)}

    async def role_delete(self, request: RoleDelete, info: AuthInfo | None = None) -> dict:
        return await self._propose(request, info)

    async def role_grant(self, request: RoleGrantPermission, info: AuthInfo | None = None) -> dict:
        return await self._propose(request, info)

    async def role_revoke(
        self, request: RoleRevokePermission, info: AuthInfo | None = None
    ) -> dict:
        return await self._propose(request, info)

    # ---- helpers -----------------------------------------------------------------------

    def _precheck_admin(self, info: AuthInfo | None) -> None:
        """Refuse a non-admin before spending a bcrypt hash on its request (apply checks
        again, atomically)."""
        if self.store.enabled:
            self.store.check_admin(info or NOBODY)

    def _header(self) -> dict:
        return {"revision": self._revision()}


def _perm_type(value: int) -> int:
    """By name when etcd knows it (READ, the zero value, is omitted as etcd does)."""
    return PermType(value) if value in PermType._value2member_map_ else value
