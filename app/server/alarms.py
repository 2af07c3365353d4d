"""Alarms: conditions that make the cluster refuse some requests until cleared.

The alarm set is replicated state (etcd's alarm bucket): every GET, ACTIVATE and DEACTIVATE
is a proposal applied on every member in log order, stored in the same batch as the
applied index and carried by snapshots, so every member refuses the same writes. While
NOSPACE is raised, apply refuses puts, transactions with a put and lease grants (etcd's
applierV3Capped); while CORRUPT is, every write (applierV3Corrupt).

A member raises NOSPACE itself when its backend passes --quota-backend-bytes
(`QuotaCheck`, etcd's quotaKVServer): it proposes the alarm and refuses the write.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from keyraft.app.server import errors
from keyraft.app.server.requests import (
    Alarm,
    AlarmAction,
    AlarmType,
    Compact,
    DeleteRange,
    LeaseGrant,
    LeaseRevoke,
    Proposal,
    Put,
    Txn,
)
from keyraft.raft.io.clock import Clock
from keyraft.storage.backend import Backend, Writes

# Alarms live in the "meta" family (snapshotted) as prefix + member id + alarm type.
ALARM_PREFIX = b"alarm/"
_KEY = struct.Struct(">QB")
# Reading the backend's size costs ten RocksDB property reads: at most once per interval.
QUOTA_CHECK_INTERVAL_S = 1.0

_CORRUPTIBLE = (Put, DeleteRange, Txn, Compact, LeaseGrant, LeaseRevoke)


def has_put(txn: Txn) -> bool:
    """Whether a transaction may write a key (etcd's capped applier refuses those)."""
    for op in (*txn.success, *txn.failure):
        if type(op) is Put or (type(op) is Txn and has_put(op)):
            return True
    return False


class AlarmStore:
    """The replicated alarm set: (member id, alarm type) pairs."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.raised: set[tuple[int, int]] = set()
        self.load()

    def load(self) -> None:
        """Read the alarms from the backend (at start, and after restoring a snapshot)."""
        end = ALARM_PREFIX[:-1] + bytes([ALARM_PREFIX[-1] + 1])
        self.raised = {
            _KEY.unpack(key[len(ALARM_PREFIX) :])
            for key, _value in self.backend.iterate("meta", ALARM_PREFIX, end)
        }

    def active(self, alarm: AlarmType) -> bool:
        return any(kind == alarm for _member, kind in self.raised)

    def listed(self, pairs: Iterable[tuple[int, int]] | None = None) -> dict:
        """An AlarmResponse listing `pairs` (every raised alarm by default)."""
        chosen = sorted(self.raised if pairs is None else pairs, key=lambda p: (p[1], p[0]))
        return {
            "alarms": [{"memberID": member, "alarm": AlarmType(kind)} for member, kind in chosen]
        }

    def texts(self) -> list[str]:
        """Each alarm as Go prints an AlarmMember (status's `errors` lists them so)."""
        return [
            (f"memberID:{member} " if member else "")
            + (f"alarm:{AlarmType(kind).name} " if kind else "")
            for member, kind in sorted(self.raised, key=lambda p: (p[1], p[0]))
        ]

    def apply(self, request: Alarm, batch: Writes) -> dict:
        """As etcd 3.4 applies an AlarmRequest: ACTIVATE answers the alarm (new or not),
        DEACTIVATE the alarm it cleared (nothing if it was not raised), GET every alarm;
        an unknown action changes nothing (etcd 3.4.23 crashes on one)."""
        pair = (request.member_id, request.alarm)
        key = ALARM_PREFIX + _KEY.pack(*pair)
        match request.action:
            case AlarmAction.GET:
                return self.listed()
            case AlarmAction.ACTIVATE if request.alarm in AlarmType.__members__.values():
                if pair not in self.raised:
                    self.raised.add(pair)
                    batch.put("meta", key, b"")
                return self.listed([pair])
            case AlarmAction.DEACTIVATE if pair in self.raised:
                self.raised.discard(pair)
                batch.delete("meta", key)
                return self.listed([pair])
        return {}

    def refusal(self, request: Proposal) -> errors.ServerError | None:
        """The error apply answers `request` with while an alarm stands, if any."""
        if not self.raised:
            return None
        if self.active(AlarmType.CORRUPT) and isinstance(request, _CORRUPTIBLE):
            return errors.Corrupt()
        if self.active(AlarmType.NOSPACE) and (
            type(request) in (Put, LeaseGrant) or (type(request) is Txn and has_put(request))
        ):
            return errors.NoSpace()
        return None


class QuotaCheck:
    """Whether a write of `cost` bytes would take this member's backend past its quota
    (etcd's backendQuota.Available: size + cost), the size read at most once a
    QUOTA_CHECK_INTERVAL_S (`refresh` forgets the last reading, after a defragment)."""

    def __init__(self, clock: Clock, quota_bytes: int, used_bytes: Callable[[], int]) -> None:
        self.clock = clock
        self.quota_bytes = quota_bytes
        self.used_bytes = used_bytes
        self._checked_at = float("-inf")
        self._used = 0

    def exceeded(self, cost: int = 0) -> bool:
        now = self.clock.now()
        if now - self._checked_at > QUOTA_CHECK_INTERVAL_S:
            self._checked_at = now
            self._used = self.used_bytes()
        return self._used + cost > self.quota_bytes

    def refresh(self) -> None:
        self._checked_at = float("-inf")
