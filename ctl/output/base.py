"""What every printer offers, and the plumbing they share (raw byte output, ids)."""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Health:
    """One endpoint's health, as etcdctl's `epHealth`."""

    endpoint: str
    healthy: bool
    took: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class Status:
    """One endpoint's `/v3/maintenance/status` answer."""

    endpoint: str
    response: dict


PERMISSION_TYPES = ("READ", "WRITE", "READWRITE")  # authpb.Permission_Type, in enum order


def permission_type(permission: dict) -> int:
    """A permission's type as its enum number; the gateway names it, or omits READ."""
    kind = permission.get("permType", 0)
    return PERMISSION_TYPES.index(kind) if isinstance(kind, str) else int(kind or 0)


def write(data: bytes | str = b"", newline: bool = True) -> None:
    """Write raw bytes to stdout: keys and values are bytes, not necessarily text."""
    raw = data.encode() if isinstance(data, str) else data
    sys.stdout.buffer.write(raw + (b"\n" if newline else b""))
    sys.stdout.buffer.flush()


def number(value: object) -> int:
    """The gateway sends 64-bit integers as strings and omits zeros."""
    return int(value) if value not in (None, "") else 0  # type: ignore[call-overload]


def hex_id(value: object) -> str:
    """Member ids in hex as Go's `%x` prints a uint64."""
    return f"{number(value) & 0xFFFFFFFFFFFFFFFF:x}"


def lease_id(value: object) -> str:
    """Lease ids as etcdctl's `%016x`."""
    return f"{number(value) & 0xFFFFFFFFFFFFFFFF:016x}"


class Printer:
    """One method per command result; the default says the format does not support it."""

    name = "simple"

    def unsupported(self) -> None:
        from keyraft.ctl.errors import UnsupportedFormat

        raise UnsupportedFormat(f"{self.name} not supported as output format")

    def put(self, response: dict) -> None:
        self.unsupported()

    def alarm(self, response: dict) -> None:
        self.unsupported()

    def snapshot_status(self, found: dict) -> None:
        self.unsupported()

    def endpoint_hashkv(self, results: list[Status]) -> None:
        self.unsupported()

    def get(self, response: dict) -> None:
        self.unsupported()

    def delete(self, response: dict) -> None:
        self.unsupported()

    def txn(self, response: dict) -> None:
        self.unsupported()

    def watch(self, response: dict) -> None:
        self.unsupported()

    def compaction(self, revision: int) -> None:
        write(f"compacted revision {revision}")

    def grant(self, response: dict) -> None:
        self.unsupported()

    def revoke(self, lease: int, response: dict) -> None:
        self.unsupported()

    def keep_alive(self, response: dict) -> None:
        self.unsupported()

    def time_to_live(self, response: dict, keys: bool) -> None:
        self.unsupported()

    def leases(self, response: dict) -> None:
        self.unsupported()

    def member_list(self, response: dict) -> None:
        self.unsupported()

    def member_add(self, response: dict) -> None:
        self.unsupported()

    def member_changed(self, verb: str, member_id: int, response: dict) -> None:
        """A member removed, updated or promoted (`verb`: "removed from", ...)."""
        self.unsupported()

    def move_leader(self, leader: int, target: int, response: dict) -> None:
        self.unsupported()

    def endpoint_health(self, results: list[Health]) -> None:
        self.unsupported()

    def endpoint_status(self, results: list[Status]) -> None:
        self.unsupported()

    def auth_change(self, message: bytes, response: dict) -> None:
        """A user/role change; `message` is what etcdctl's simple format says."""
        self.unsupported()

    def role_get(self, role: str, response: dict) -> None:
        self.unsupported()

    def role_list(self, response: dict) -> None:
        self.unsupported()

    def user_get(self, user: str, response: dict) -> None:
        self.unsupported()

    def user_list(self, response: dict) -> None:
        self.unsupported()

    def auth_status(self, response: dict) -> None:
        self.unsupported()
