"""etcd's JSON conventions for answers, in the few places compatibility tests cannot reach
without a full disk (alarms)."""

from __future__ import annotations

from keyraft.app.codec import to_json_value
from keyraft.app.server.requests import AlarmType


def test_an_alarm_is_written_by_name_and_ints_as_strings() -> None:
    # What etcd's gateway answers once NOSPACE is raised: {"alarms":[{"memberID":"...",
    # "alarm":"NOSPACE"}]} (keyraftctl's endpoint health reads the name).
    answer = {"alarms": [{"memberID": 1234, "alarm": AlarmType.NOSPACE}]}
    assert to_json_value(answer) == {"alarms": [{"memberID": "1234", "alarm": "NOSPACE"}]}


def test_zero_values_are_omitted_enums_included() -> None:
    answer = {"header": {"revision": 0, "raft_term": 3}, "alarm": AlarmType.NONE, "more": False}
    assert to_json_value(answer) == {"header": {"raft_term": "3"}}
