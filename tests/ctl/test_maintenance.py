"""keyraftctl's maintenance commands in lockstep with etcdctl 3.4: the same script run by
etcdctl on etcd, by keyraftctl on etcd and by keyraftctl on keyraft prints the same."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.ctl.support import Result, etcdctl, invoke, normalized
from tests.support.servers import Member

Runner = Callable[..., Result]


def _raise(member: Member, member_id: str, kind: str) -> None:
    body = {"action": "ACTIVATE", "memberID": member_id, "alarm": kind}
    httpx.post(member.client_url + "/v3/maintenance/alarm", json=body).raise_for_status()


def alarm_script(member: Member, run: Runner) -> list[tuple[int, str, str]]:
    """One alarm at a time (etcd lists several in Go map order)."""
    outputs = []

    def step(*arguments: str) -> None:
        result = run(member.client_url, *arguments)
        outputs.append((result.code, normalized(result.text), normalized(result.error)))

    step("alarm", "list")
    step("-w", "json", "alarm", "list")
    _raise(member, "5", "NOSPACE")
    step("alarm", "list")
    step("-w", "json", "alarm", "list")
    step("alarm", "disarm")
    step("alarm", "disarm")
    _raise(member, "0", "CORRUPT")
    step("alarm", "list")
    step("-w", "json", "alarm", "disarm")
    step("alarm", "list", "extra")
    step("-w", "table", "alarm", "list")
    return outputs


def test_alarm_list_and_disarm(etcd: Member, keyraft: Member) -> None:
    theirs = alarm_script(etcd, etcdctl)
    ours_on_etcd = alarm_script(etcd, invoke)
    ours_on_keyraft = alarm_script(keyraft, invoke)
    assert ours_on_etcd == theirs
    assert ours_on_keyraft == ours_on_etcd
