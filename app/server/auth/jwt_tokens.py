"""JWT auth tokens (`--auth-token jwt,...`): signed by the member that answered, checked
by every member holding the public key; any auth change makes one stale. A module of its
own so that PyJWT and cryptography load only where JWTs are configured.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt


def known_method(method: str) -> bool:
    """Whether PyJWT signs with `method` (never "none")."""
    return method in jwt.algorithms.get_default_algorithms() and method != "none"


class JwtTokens:
    def __init__(
        self,
        method: str,
        public_key: bytes,
        private_key: bytes | None,
        ttl_s: float,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.method = method
        self.public_key = public_key
        self.private_key = private_key
        self.ttl_s = ttl_s
        self.now = now

    def prefix(self) -> str:
        return ""

    def assign(self, token: str, user: str) -> None:
        pass

    def sign(self, user: str, revision: int) -> str | None:
        if self.private_key is None:  # a member with the public key only verifies
            return None
        claims = {"exp": int(self.now() + self.ttl_s), "revision": revision, "username": user}
        return jwt.encode(claims, self.private_key, algorithm=self.method)

    def info(self, token: str) -> tuple[str, int | None] | None:
        try:
            claims = jwt.decode(token, self.public_key, algorithms=[self.method])
        except (jwt.PyJWTError, ValueError):
            return None
        user, revision = claims.get("username"), claims.get("revision")
        if not isinstance(user, str) or type(revision) is not int:
            return None
        return user, revision

    def invalidate_user(self, user: str) -> None:
        pass

    def disable(self) -> None:
        pass
