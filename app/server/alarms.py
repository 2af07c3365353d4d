"""Alarms: conditions that make a member refuse writes until cleared (etcd's NOSPACE).

Checking the backend's size on every write would cost a RocksDB property read per
request, so the quota is looked at once per QUOTA_CHECK_INTERVAL_S at most.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from keyraft.app.server.requests import AlarmType
from keyraft.raft.io.clock import Clock

QUOTA_CHECK_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class Alarm:
    member_id: int
    alarm: AlarmType


class Alarms:
    def __init__(
        self, member_id: int, clock: Clock, quota_bytes: int, used_bytes: Callable[[], int]
    ) -> None:
        self.member_id = member_id
        self.clock = clock
        self.quota_bytes = quota_bytes
        self.used_bytes = used_bytes
        self.raised: list[Alarm] = []
        self._checked_at = float("-inf")

    def blocks_writes(self) -> bool:
        """Whether a write that may grow the store must be refused (NOSPACE raised)."""
        now = self.clock.now()
        if now - self._checked_at > QUOTA_CHECK_INTERVAL_S:
            self._checked_at = now
            if self.used_bytes() > self.quota_bytes and not self.raised:
                self.raised.append(Alarm(self.member_id, AlarmType.NOSPACE))
        return bool(self.raised)
