"""Auth tokens: etcd's "simple" tokens and JWTs (`--auth-token`).

A simple token is 16 random letters chosen by the member that checked the password, plus
"." and the Raft index of the entry that issued it; applying that entry registers it on
every member, so any member accepts it. Each member forgets it after `--auth-token-ttl`
seconds without use (memory only, as in etcd). A JWT carries the user name and the auth
revision it was issued at, signed by the member that answered; every member holding the
public key checks it, and any auth change makes it stale.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from typing import Protocol

DEFAULT_TTL_S = 300
_LETTERS = string.ascii_letters
_PURGE_EVERY = 1024


class TokenProvider(Protocol):
    def prefix(self) -> str:
        """What the proposing member puts in the authenticate entry ("" for JWT)."""
        ...

    def assign(self, token: str, user: str) -> None: ...
    def sign(self, user: str, revision: int) -> str | None: ...
    def info(self, token: str) -> tuple[str, int | None] | None:
        """(user, revision the token carries or None) of a valid token, else None."""
        ...

    def invalidate_user(self, user: str) -> None: ...
    def disable(self) -> None: ...


class SimpleTokens:
    def __init__(
        self, now: Callable[[], float] = time.monotonic, ttl_s: float = DEFAULT_TTL_S
    ) -> None:
        self.now = now
        self.ttl_s = ttl_s
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (user, expiry)
        self._assigned = 0

    def prefix(self) -> str:
        return "".join(secrets.choice(_LETTERS) for _ in range(16))

    def assign(self, token: str, user: str) -> None:
        now = self.now()
        self._tokens[token] = (user, now + self.ttl_s)
        self._assigned += 1
        if self._assigned % _PURGE_EVERY == 0:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}

    def sign(self, user: str, revision: int) -> str | None:
        return None

    def info(self, token: str) -> tuple[str, int | None] | None:
        found = self._tokens.get(token)
        if found is None:
            return None
        now = self.now()
        if found[1] <= now:
            del self._tokens[token]
            return None
        self._tokens[token] = (found[0], now + self.ttl_s)  # the TTL slides on use
        return found[0], None

    def invalidate_user(self, user: str) -> None:
        self._tokens = {t: v for t, v in self._tokens.items() if v[0] != user}

    def disable(self) -> None:
        self._tokens.clear()


class BadTokenOption(ValueError):
    pass


def parse_auth_token(option: str, ttl_s: float, now: Callable[[], float]) -> TokenProvider:
    """`--auth-token simple` or `jwt,pub-key=PATH,priv-key=PATH,sign-method=RS256,ttl=5m`."""
    kind, *pairs = option.split(",")
    if kind == "simple":
        return SimpleTokens(now, ttl_s)
    if kind != "jwt":
        raise BadTokenOption(f"unknown token type {kind!r} (simple or jwt)")
    # PyJWT (with cryptography) costs a member ~8 MiB of memory: loaded only for JWTs.
    from keyraft.app.server.auth.jwt_tokens import JwtTokens, known_method

    settings = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    method = settings.get("sign-method", "")
    if not known_method(method):
        raise BadTokenOption(f"unsupported jwt sign-method {method!r}")
    try:
        with open(settings["pub-key"], "rb") as file:
            public_key = file.read()
        private_key = None
        if "priv-key" in settings:
            with open(settings["priv-key"], "rb") as file:
                private_key = file.read()
    except (KeyError, OSError) as error:
        raise BadTokenOption(f"jwt keys: {error}") from None
    ttl = _duration_s(settings["ttl"]) if "ttl" in settings else DEFAULT_TTL_S
    return JwtTokens(method, public_key, private_key, ttl)


def _duration_s(text: str) -> float:
    """Go durations as etcd reads them: 300s, 5m, 1h, 1h30m."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        char = text[i]
        if char.isdigit() or char == ".":
            number += char
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else char
        if unit not in units or not number:
            raise BadTokenOption(f"bad jwt ttl {text!r}")
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise BadTokenOption(f"bad jwt ttl {text!r}")
    return total
