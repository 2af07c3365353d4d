"""bcrypt, always off the event loop: one hash costs tens of milliseconds of CPU at
etcd's default cost of 10 (bcrypt releases the GIL while it works).

Go's bcrypt in etcd 3.4 uses only a password's first 72 bytes (measured: a 100-byte
password also accepts its 72-byte prefix); Python's bcrypt refuses longer ones, so they
are cut to 72 here, and behave as in etcd.
"""

from __future__ import annotations

import asyncio

import bcrypt

DEFAULT_COST = 10
MIN_COST, MAX_COST = 4, 31
_MAX_BYTES = 72


def _cut(password: str) -> bytes:
    return password.encode()[:_MAX_BYTES]


async def hash_password(password: str, cost: int) -> bytes:
    return await asyncio.to_thread(bcrypt.hashpw, _cut(password), bcrypt.gensalt(cost))


async def password_matches(password: str, hashed: bytes) -> bool:
    if not hashed:
        return False
    try:
        return await asyncio.to_thread(bcrypt.checkpw, _cut(password), hashed)
    except ValueError:  # not a bcrypt hash
        return False
