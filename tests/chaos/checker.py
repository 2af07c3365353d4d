"""Linearizability of a register with compare-and-swap, per key.

This is the Wing-Gong search with Lowe's just-in-time refinement and memoisation, the
algorithm porcupine (used by etcd's robustness tests) and Knossos implement: walk the
history's call/return events in time order; at a call, try to linearize that operation
now; at a return whose operation is not yet linearized, backtrack. A cache of
(set of linearized operations, register value) prunes states already explored.

Indeterminate operations (a timeout, a dropped connection) have no return event: they
may take effect at any point after their invocation, or never. "Never" needs no special
case, because an operation without a return can always be linearized after everything
else; so the search succeeds as soon as every *determinate* operation is linearized.

The search has a step budget. When it runs out the verdict is UNKNOWN: a history the
checker could not prove linearizable is never reported as linearizable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

GET, PUT, CAS = "get", "put", "cas"


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation on one key.

    `value` is what a put or a CAS writes; `expected` what a CAS compares against;
    `result` is what a get returned (None: the key was absent) or whether a CAS
    succeeded. `complete` is +inf and `known` False when the outcome is unknown.
    """

    key: str
    kind: str
    invoke: float
    complete: float = math.inf
    value: str | None = None
    expected: str | None = None
    result: str | bool | None = None
    known: bool = True
    client: int = 0

    def describe(self) -> str:
        if self.kind == GET:
            body = f"get -> {self.result!r}"
        elif self.kind == PUT:
            body = f"put {self.value!r}"
        else:
            outcome = "?" if not self.known else ("ok" if self.result else "failed")
            body = f"cas {self.expected!r} -> {self.value!r} {outcome}"
        if not self.known:
            body += " (indeterminate)"
        end = "inf" if math.isinf(self.complete) else f"{self.complete:.4f}"
        return f"client {self.client}: {body} [{self.invoke:.4f}, {end}]"


class Verdict(Enum):
    LINEARIZABLE = "LINEARIZABLE"
    NOT_LINEARIZABLE = "NOT_LINEARIZABLE"
    UNKNOWN = "UNKNOWN"


@dataclass
class KeyResult:
    key: str
    verdict: Verdict
    operations: int
    steps: int
    explanation: str = ""


@dataclass
class Result:
    """The verdict over all keys: the worst key's verdict decides."""

    verdict: Verdict
    keys: list[KeyResult] = field(default_factory=list)

    @property
    def failing(self) -> KeyResult | None:
        """The failing key with the fewest operations: the smallest counterexample."""
        bad = [item for item in self.keys if item.verdict is Verdict.NOT_LINEARIZABLE]
        return min(bad, key=lambda item: item.operations) if bad else None

    def summary(self) -> str:
        lines = [f"{self.verdict.value}"]
        failing = self.failing
        if failing is not None:
            lines.append(f"smallest failing key {failing.key!r} ({failing.operations} ops):")
            lines.append(failing.explanation)
        unknown = [item.key for item in self.keys if item.verdict is Verdict.UNKNOWN]
        if unknown:
            lines.append(f"search budget ran out on keys {unknown}")
        return "\n".join(lines)


def step(state: str | None, operation: Operation) -> tuple[bool, str | None]:
    """The register-with-CAS model: may `operation` take effect in `state`, and to what?

    A CAS on an absent key fails, as etcd's VALUE compare does when the key is missing.
    An indeterminate CAS takes effect if its compare holds, and is a no-op otherwise.
    """
    if operation.kind == GET:
        return operation.result == state, state
    if operation.kind == PUT:
        return True, operation.value
    matches = state is not None and state == operation.expected
    if not operation.known:
        return True, operation.value if matches else state
    if operation.result:
        return matches, operation.value
    return not matches, state


class _Node:
    """A call or return event in the doubly linked list the search lifts entries from."""

    __slots__ = ("index", "is_call", "match", "prev", "next", "time")

    def __init__(self, index: int, is_call: bool, time: float) -> None:
        self.index = index
        self.is_call = is_call
        self.time = time
        self.match: _Node | None = None
        self.prev: _Node | None = None
        self.next: _Node | None = None


def _build(operations: list[Operation]) -> _Node:
    events: list[_Node] = []
    for index, operation in enumerate(operations):
        call = _Node(index, True, operation.invoke)
        events.append(call)
        if operation.known:
            ret = _Node(index, False, operation.complete)
            call.match = ret
            events.append(ret)
    # On equal times calls sort first: the two operations count as concurrent, which can
    # only make the checker more permissive, never report a false violation.
    events.sort(key=lambda node: (node.time, 0 if node.is_call else 1))
    head = _Node(-1, True, -math.inf)
    previous = head
    for node in events:
        previous.next, node.prev = node, previous
        previous = node
    return head


def _lift(node: _Node) -> None:
    node.prev.next = node.next  # type: ignore[union-attr]
    if node.next is not None:
        node.next.prev = node.prev
    ret = node.match
    if ret is not None:
        ret.prev.next = ret.next  # type: ignore[union-attr]
        if ret.next is not None:
            ret.next.prev = ret.prev


def _unlift(node: _Node) -> None:
    ret = node.match
    if ret is not None:
        ret.prev.next = ret  # type: ignore[union-attr]
        if ret.next is not None:
            ret.next.prev = ret
    node.prev.next = node  # type: ignore[union-attr]
    if node.next is not None:
        node.next.prev = node


def check_key(key: str, operations: list[Operation], budget: int = 2_000_000) -> KeyResult:
    """Search for a linearization of one key's history, starting from an absent key."""
    operations = [op for op in operations if op.known or op.kind != GET]
    determinate = sum(1 for op in operations if op.known)
    head = _build(operations)
    cache: set[tuple[int, str | None]] = set()
    stack: list[tuple[_Node, str | None]] = []
    state: str | None = None
    linearized = 0
    done = 0
    steps = 0
    deepest: tuple[int, str | None, int] = (-1, None, -1)
    entry = head.next
    while done < determinate:
        steps += 1
        if steps > budget:
            return KeyResult(key, Verdict.UNKNOWN, len(operations), steps)
        assert entry is not None, "a determinate operation's return is always in the list"
        operation = operations[entry.index]
        if entry.is_call:
            ok, new_state = step(state, operation)
            if ok:
                marked = linearized | (1 << entry.index)
                if (marked, new_state) not in cache:
                    cache.add((marked, new_state))
                    stack.append((entry, state))
                    state, linearized = new_state, marked
                    done += operation.known
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
            continue
        # A return: its operation had to take effect by now and could not.
        if len(stack) > deepest[0]:
            deepest = (len(stack), state, entry.index)
        if not stack:
            return _failure(key, operations, steps, deepest)
        node, state = stack.pop()
        linearized &= ~(1 << node.index)
        done -= operations[node.index].known
        _unlift(node)
        entry = node.next
    return KeyResult(key, Verdict.LINEARIZABLE, len(operations), steps)


def _failure(
    key: str, operations: list[Operation], steps: int, deepest: tuple[int, str | None, int]
) -> KeyResult:
    depth, state, index = deepest
    stuck = operations[index]
    explanation = (
        f"  at best {depth} of {len(operations)} ops linearize; the register then holds "
        f"{state!r}, and this op, which had already completed, fits no order:\n"
        f"    {stuck.describe()}"
    )
    return KeyResult(key, Verdict.NOT_LINEARIZABLE, len(operations), steps, explanation)


def check(operations: list[Operation], budget: int = 2_000_000) -> Result:
    """Check every key's history on its own (keys are independent registers)."""
    by_key: dict[str, list[Operation]] = {}
    for operation in operations:
        by_key.setdefault(operation.key, []).append(operation)
    results = [check_key(key, ops, budget) for key, ops in sorted(by_key.items())]
    verdicts = {item.verdict for item in results}
    if Verdict.NOT_LINEARIZABLE in verdicts:
        verdict = Verdict.NOT_LINEARIZABLE
    elif Verdict.UNKNOWN in verdicts:
        verdict = Verdict.UNKNOWN
    else:
        verdict = Verdict.LINEARIZABLE
    return Result(verdict, results)
