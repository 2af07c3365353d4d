"""Alarms as replicated state: etcd 3.4.23's answers to each action (measured), the
requests refused while NOSPACE or CORRUPT stands, and alarms kept across a restart and
carried by a snapshot."""

from __future__ import annotations

from pathlib import Path

from keyraft.app.server import errors
from keyraft.app.server.requests import (
    Alarm,
    AlarmAction,
    AlarmType,
    Compact,
    DeleteRange,
    LeaseGrant,
    LeaseRevoke,
    Put,
    Range,
    Txn,
    encode_proposal,
)
from keyraft.app.server.state_machine import StateMachine
from keyraft.raft.messages import Entry
from keyraft.storage.backend import Backend

GET, ACTIVATE, DEACTIVATE = AlarmAction.GET, AlarmAction.ACTIVATE, AlarmAction.DEACTIVATE
NOSPACE, CORRUPT = AlarmType.NOSPACE, AlarmType.CORRUPT


class Log:
    """A state machine fed one entry at a time; each call answers the request's outcome."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = StateMachine(Backend(str(path)))
        self.index = self.state.applied_index

    def __call__(self, request: object) -> dict | errors.ServerError:
        self.index += 1
        entry = Entry(term=1, index=self.index, data=encode_proposal(self.index, request))  # type: ignore[arg-type]
        ((_id, outcome),) = self.state.apply([entry])
        return outcome


def alarms(*pairs: tuple[int, AlarmType]) -> dict:
    return {"alarms": [{"memberID": member, "alarm": kind} for member, kind in pairs]}


def test_alarm_actions_answer_as_etcd(tmp_path: Path) -> None:
    log = Log(tmp_path / "kv")

    def apply(request: Alarm) -> dict:
        answer = log(request)
        assert isinstance(answer, dict)
        answer.pop("header", None)  # EtcdServer.alarm drops it, as etcd's answer has none
        return answer

    assert apply(Alarm(GET)) == alarms()
    assert apply(Alarm(ACTIVATE, 5, NOSPACE)) == alarms((5, NOSPACE))
    assert apply(Alarm(ACTIVATE, 5, NOSPACE)) == alarms((5, NOSPACE))  # again: the same one
    assert apply(Alarm(ACTIVATE, 0, NOSPACE)) == alarms((0, NOSPACE))
    assert apply(Alarm(GET, 7)) == alarms((0, NOSPACE), (5, NOSPACE))  # GET lists them all
    assert apply(Alarm(DEACTIVATE, 7, NOSPACE)) == {}  # not raised: nothing
    assert apply(Alarm(DEACTIVATE, 5, NOSPACE)) == alarms((5, NOSPACE))
    assert apply(Alarm(ACTIVATE, 9, AlarmType.NONE)) == alarms((9, AlarmType.NONE))  # 3.4.23 does
    assert apply(Alarm(7)) == {}  # an unknown action changes nothing (etcd 3.4.23 crashes)
    assert apply(Alarm(ACTIVATE, 3, 9)) == {}  # nor does an unknown alarm
    assert apply(Alarm(GET)) == alarms((9, AlarmType.NONE), (0, NOSPACE))
    assert log.state.store.current_revision == 1  # alarms are no key-value change


def test_nospace_refuses_what_may_grow_the_store_until_cleared(tmp_path: Path) -> None:
    apply = Log(tmp_path / "kv")
    assert "header" in apply(Put(b"a", b"1"))
    apply(Alarm(ACTIVATE, 1, NOSPACE))
    nested_put = Txn((), (Txn((), (Put(b"b", b"2"),), ()),), ())
    for refused in (
        Put(b"a", b"2"),
        nested_put,
        Txn((), (), (Put(b"a", b"3"),)),
        LeaseGrant(10, 5),
    ):
        assert isinstance(apply(refused), errors.NoSpace)
    for allowed in (
        Txn((), (Range(b"a"),), ()),
        Txn((), (DeleteRange(b"zz"),), ()),
        DeleteRange(b"a"),
        Compact(2),
        LeaseRevoke(404),  # refused for its own reason, not space
    ):
        assert not isinstance(apply(allowed), errors.NoSpace)
    apply(Alarm(DEACTIVATE, 1, NOSPACE))
    assert "header" in apply(Put(b"a", b"4"))


def test_corrupt_refuses_every_write(tmp_path: Path) -> None:
    apply = Log(tmp_path / "kv")
    apply(Alarm(ACTIVATE, 4, CORRUPT))
    for refused in (Put(b"a", b"1"), DeleteRange(b"a"), Compact(1), LeaseGrant(10, 5)):
        assert isinstance(apply(refused), errors.Corrupt)
    apply(Alarm(DEACTIVATE, 4, CORRUPT))
    assert "header" in apply(Put(b"a", b"1"))


def test_alarms_survive_a_restart_and_travel_in_a_snapshot(tmp_path: Path) -> None:
    apply = Log(tmp_path / "a")
    apply(Alarm(ACTIVATE, 2, NOSPACE))
    apply.state.close()
    again = Log(tmp_path / "a")
    assert isinstance(again(Put(b"k", b"v")), errors.NoSpace)
    other = Log(tmp_path / "b")
    other(Alarm(ACTIVATE, 3, CORRUPT))
    other.state.restore(again.state.snapshot_data())
    assert other.state.alarms.raised == {(2, NOSPACE)}
    again.state.restore(Log(tmp_path / "c").state.snapshot_data())
    assert again.state.alarms.raised == set()
