"""The checker must reject what is not linearizable, or its passes mean nothing."""

from __future__ import annotations

import math
import random

from tests.chaos.checker import CAS, GET, PUT, Operation, Verdict, check, check_key


def op(kind: str, start: float, end: float, **fields: object) -> Operation:
    return Operation(key="k", kind=kind, invoke=start, complete=end, **fields)  # type: ignore[arg-type]


def unknown(kind: str, start: float, **fields: object) -> Operation:
    return Operation(key="k", kind=kind, invoke=start, complete=math.inf, known=False, **fields)  # type: ignore[arg-type]


def test_sequential_history_is_linearizable() -> None:
    history = [
        op(GET, 0, 1, result=None),
        op(PUT, 2, 3, value="a"),
        op(GET, 4, 5, result="a"),
        op(CAS, 6, 7, expected="a", value="b", result=True),
        op(CAS, 8, 9, expected="a", value="c", result=False),
        op(GET, 10, 11, result="b"),
    ]
    assert check(history).verdict is Verdict.LINEARIZABLE


def test_concurrent_reads_may_see_either_side_of_a_write() -> None:
    history = [
        op(PUT, 0, 1, value="a"),
        op(PUT, 2, 10, value="b"),
        op(GET, 3, 4, result="b"),
        op(GET, 5, 6, result="b"),
        op(GET, 2.5, 3.5, result="a"),
    ]
    assert check(history).verdict is Verdict.LINEARIZABLE


def test_stale_read_is_rejected() -> None:
    history = [
        op(PUT, 0, 1, value="a"),
        op(PUT, 2, 3, value="b"),
        op(GET, 4, 5, result="a"),
    ]
    result = check(history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.failing is not None and result.failing.key == "k"
    assert "get -> 'a'" in result.failing.explanation


def test_read_going_back_in_time_is_rejected() -> None:
    history = [
        op(PUT, 0, 1, value="a"),
        op(PUT, 2, 10, value="b"),
        op(GET, 3, 4, result="b"),
        op(GET, 5, 6, result="a"),
    ]
    assert check(history).verdict is Verdict.NOT_LINEARIZABLE


def test_lost_write_is_rejected() -> None:
    # An acknowledged put, then reads that never see it and see the older value.
    history = [
        op(PUT, 0, 1, value="a"),
        op(PUT, 2, 3, value="b"),
        op(GET, 4, 5, result="a"),
        op(GET, 6, 7, result="a"),
    ]
    assert check(history).verdict is Verdict.NOT_LINEARIZABLE


def test_read_of_a_value_never_written_is_rejected() -> None:
    assert check([op(GET, 0, 1, result="ghost")]).verdict is Verdict.NOT_LINEARIZABLE


def test_cas_anomalies_are_rejected() -> None:
    # Two CAS from the same expected value both succeed: a lost update.
    double = [
        op(PUT, 0, 1, value="a"),
        op(CAS, 2, 5, expected="a", value="b", result=True),
        op(CAS, 3, 6, expected="a", value="c", result=True),
    ]
    assert check(double).verdict is Verdict.NOT_LINEARIZABLE
    # A CAS that fails although the register certainly holds the expected value.
    spurious = [
        op(PUT, 0, 1, value="a"),
        op(CAS, 2, 3, expected="a", value="b", result=False),
    ]
    assert check(spurious).verdict is Verdict.NOT_LINEARIZABLE
    # A CAS that succeeds on a value already overwritten.
    stale = [
        op(PUT, 0, 1, value="a"),
        op(PUT, 2, 3, value="b"),
        op(CAS, 4, 5, expected="a", value="c", result=True),
    ]
    assert check(stale).verdict is Verdict.NOT_LINEARIZABLE


def test_cas_on_an_absent_key_fails_as_in_etcd() -> None:
    assert check([op(CAS, 0, 1, expected="a", value="b", result=False)]).verdict is (
        Verdict.LINEARIZABLE
    )


def test_indeterminate_write_may_take_effect_late_or_never() -> None:
    late = [
        op(PUT, 0, 1, value="a"),
        unknown(PUT, 2, value="b"),
        op(GET, 3, 4, result="a"),
        op(GET, 50, 51, result="b"),
    ]
    assert check(late).verdict is Verdict.LINEARIZABLE
    never = [op(PUT, 0, 1, value="a"), unknown(PUT, 2, value="b"), op(GET, 3, 4, result="a")]
    assert check(never).verdict is Verdict.LINEARIZABLE
    unknown_cas = [
        op(PUT, 0, 1, value="a"),
        unknown(CAS, 2, expected="a", value="b"),
        op(GET, 9, 10, result="b"),
    ]
    assert check(unknown_cas).verdict is Verdict.LINEARIZABLE


def test_indeterminate_write_cannot_take_effect_before_it_was_invoked() -> None:
    history = [op(GET, 0, 1, result="b"), unknown(PUT, 2, value="b")]
    assert check(history).verdict is Verdict.NOT_LINEARIZABLE


def test_keys_are_checked_independently_and_the_smallest_failure_is_named() -> None:
    good = [Operation("x", PUT, 0, 1, value="a"), Operation("x", GET, 2, 3, result="a")]
    bad_big = [
        Operation("y", PUT, 0, 1, value="a"),
        Operation("y", PUT, 2, 3, value="b"),
        Operation("y", GET, 4, 5, result="b"),
        Operation("y", GET, 6, 7, result="a"),
    ]
    bad_small = [Operation("z", GET, 0, 1, result="nope")]
    result = check(good + bad_big + bad_small)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.failing is not None and result.failing.key == "z"
    assert {item.key: item.verdict for item in result.keys}["x"] is Verdict.LINEARIZABLE


def test_budget_exhaustion_is_unknown_never_a_pass() -> None:
    # Many concurrent indeterminate writes then an impossible read: a huge search.
    history = [unknown(PUT, index * 0.001, value=f"v{index}") for index in range(40)]
    history.append(op(GET, 100, 101, result="never-written"))
    history.append(op(GET, 0.5, 0.6, result="v39"))
    result = check_key("k", history, budget=5_000)
    assert result.verdict is Verdict.UNKNOWN


def _random_linearizable_history(seed: int) -> list[Operation]:
    """Simulate a real register: each op takes effect at a random point of its interval."""
    rng = random.Random(seed)
    events: list[tuple[float, float, float, str, dict]] = []
    for client in range(4):
        clock = rng.random()
        for number in range(25):
            start = clock
            point = start + rng.random()
            end = point + rng.random()
            kind = rng.choice([GET, PUT, CAS])
            events.append((point, start, end, kind, {"client": client, "n": number}))
            clock = end + rng.random() * 0.2
    events.sort()
    state: str | None = None
    history = []
    for point, start, end, kind, info in events:
        value = f"{info['client']}-{info['n']}"
        if kind == GET:
            history.append(op(GET, start, end, result=state, client=info["client"]))
        elif kind == PUT:
            state = value
            if rng.random() < 0.1:
                history.append(unknown(PUT, start, value=value))
            else:
                history.append(op(PUT, start, end, value=value))
        else:
            expected = state if rng.random() < 0.6 else "other"
            succeeded = state is not None and state == expected
            if succeeded:
                state = value
            history.append(op(CAS, start, end, expected=expected, value=value, result=succeeded))
        del point
    return history


def test_random_linearizable_histories_pass_and_corrupted_ones_fail() -> None:
    for seed in range(30):
        history = _random_linearizable_history(seed)
        assert check(history).verdict is Verdict.LINEARIZABLE, seed
        # Corrupt one read to a value nobody wrote: must never pass.
        reads = [index for index, item in enumerate(history) if item.kind == GET]
        index = random.Random(seed).choice(reads)
        bad = list(history)
        bad[index] = op(GET, history[index].invoke, history[index].complete, result="corrupt")
        assert check(bad).verdict is not Verdict.LINEARIZABLE, seed
