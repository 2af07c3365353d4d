"""Auto-compaction, as etcd 3.4's compactor: the leader proposes compactions, so every
member compacts at the same revision (followers' compactors are paused).

- periodic: the revision is sampled every retention/10 (at most every 6 minutes) and
  the oldest sample of the last `retention` is compacted to, once per retention (at
  most once an hour); a retention without a unit is in hours.
- revision: every 5 minutes, compact to current revision - retention once it moved.
A compaction refused because the revision is already compacted is not an error.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable

from keyraft.app.server import errors
from keyraft.app.server.requests import Compact
from keyraft.raft.io.clock import Clock

log = logging.getLogger("keyraft.compactor")

MODES = ("periodic", "revision")
REVISION_INTERVAL_S = 300.0  # etcd's revision compactor checks every 5 minutes
HOUR_S = 3600.0
RETRY_DIVISOR = 10
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": HOUR_S}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


class BadRetention(ValueError):
    """A retention etcd would not parse (its message: `error parsing CompactionRetention`)."""


def parse_retention(mode: str, text: str) -> float:
    """Seconds (periodic) or revisions (revision); 0 turns auto-compaction off."""
    if mode not in MODES:
        raise BadRetention(f'unknown auto-compaction-mode "{mode}"')
    text = text.strip()
    if re.fullmatch(r"\d+", text):
        return int(text) * (HOUR_S if mode == "periodic" else 1)
    if mode == "revision":
        raise BadRetention(f'error parsing CompactionRetention: invalid revision "{text}"')
    parts = _PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise BadRetention(f'error parsing CompactionRetention: time: invalid duration "{text}"')
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


Propose = Callable[[Compact], Awaitable[dict]]


class AutoCompactor:
    def __init__(
        self,
        clock: Clock,
        mode: str,
        retention: float,
        revision: Callable[[], int],
        propose: Propose,
    ) -> None:
        self.clock = clock
        self.mode = mode
        self.retention = retention
        self.revision = revision
        self.propose = propose
        self.leading = False

    async def run(self) -> None:
        if self.retention <= 0:
            return
        if self.mode == "periodic":
            await self._periodic()
        else:
            await self._by_revision()

    async def _periodic(self) -> None:
        sample_every = min(self.retention, HOUR_S) / RETRY_DIVISOR
        compact_every = min(self.retention, HOUR_S)
        samples: deque[int] = deque(maxlen=int(self.retention / sample_every) + 1)
        last = self.clock.now()
        while True:
            samples.append(self.revision())
            await self.clock.sleep(sample_every)
            if not self.leading:
                last = self.clock.now()  # etcd restarts the period on resume
                continue
            if self.clock.now() - last < compact_every - 1e-9:
                continue
            if await self._compact(samples[0]):
                last = self.clock.now()

    async def _by_revision(self) -> None:
        previous = 0
        while True:
            await self.clock.sleep(REVISION_INTERVAL_S)
            target = self.revision() - int(self.retention)
            if not self.leading or target <= 0 or target == previous:
                continue
            if await self._compact(target):
                previous = target

    async def _compact(self, revision: int) -> bool:
        """Propose a compaction; whether it is done (or was already)."""
        try:
            await self.propose(Compact(revision))
        except errors.Compacted:
            return True
        except errors.ServerError as error:
            log.warning("auto-compaction to %d failed: %s", revision, error)
            return False
        log.info("auto-compacted to revision %d", revision)
        return True
