"""Majority arithmetic over a set of voters. Pure functions; no state.

The rule behind every function: a decision needs more than half of the
voters. Two majorities of the same set always share a member, which is
what makes an elected leader or a committed index unique.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from enum import IntEnum


class VoteResult(IntEnum):
    PENDING = 0
    LOST = 1
    WON = 2


def majority(voter_count: int) -> int:
    return voter_count // 2 + 1


def committed_index(voters: Collection[int], match_of: Callable[[int], int]) -> int:
    """The largest index that a majority of `voters` hold (their `match_of`)."""
    if not voters:
        return 0
    matches = sorted((match_of(voter) for voter in voters), reverse=True)
    return matches[majority(len(matches)) - 1]


def vote_result(voters: Collection[int], votes: Mapping[int, bool]) -> VoteResult:
    """WON with a majority of grants, LOST when a majority can no longer be reached."""
    granted = rejected = 0
    for voter in voters:
        answer = votes.get(voter)
        if answer is True:
            granted += 1
        elif answer is False:
            rejected += 1
    needed = majority(len(voters))
    if granted >= needed:
        return VoteResult.WON
    if len(voters) - rejected < needed:
        return VoteResult.LOST
    return VoteResult.PENDING


def has_quorum(voters: Collection[int], members: Collection[int]) -> bool:
    """Do `members` include a majority of `voters`?"""
    count = sum(1 for voter in voters if voter in members)
    return count >= majority(len(voters))
