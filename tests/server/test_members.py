"""Membership as replicated state: conf change entries applied to the member table with
their index, checked as etcd checks them, kept across a reopen and in snapshots; and the
Raft driver taking its configuration from the table when it starts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from keyraft.app.server import errors
from keyraft.app.server.members import MemberChange, decode_change, encode_change
from keyraft.app.server.membership import Member, new_member_id
from keyraft.app.server.state_machine import StateMachine
from keyraft.raft.codec import encode_conf_change
from keyraft.raft.io.driver import RaftDriver
from keyraft.raft.messages import ConfChange, ConfChangeType, ConfState, Entry, EntryType
from keyraft.storage.backend import Backend

ADD, LEARNER = ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER_NODE
REMOVE, UPDATE = ConfChangeType.REMOVE_NODE, ConfChangeType.UPDATE_NODE
URL = "http://127.0.0.1:{}"


def founded(path: Path) -> StateMachine:
    state = StateMachine(Backend(str(path)))
    state.claim(9, 1, str(path), [Member(1, "one", [URL.format(1)])])
    return state


def conf_entry(index: int, kind: ConfChangeType, node: int, change: MemberChange) -> Entry:
    data = encode_conf_change(ConfChange(kind, node, encode_change(change)))
    return Entry(term=2, index=index, type=EntryType.CONF_CHANGE, data=data)


def apply(state: StateMachine, index: int, kind: ConfChangeType, node: int, **fields: object):
    change = MemberChange(request_id=index, **fields)  # type: ignore[arg-type]
    return state.apply_conf_change(conf_entry(index, kind, node, change))


def test_changes_apply_with_their_index_and_survive_a_reopen(tmp_path: Path) -> None:
    state = founded(tmp_path / "kv")
    change, outcome = apply(state, 2, LEARNER, 5, peer_urls=(URL.format(5),), is_learner=True)
    assert change is not None and change.type == LEARNER and outcome == (2, {})
    assert state.conf_state() == ConfState((1,), (5,))
    assert apply(state, 3, ADD, 5, promote=True)[1] == (3, {})
    assert apply(state, 4, UPDATE, 5, peer_urls=(URL.format(6),))[1] == (4, {})
    assert apply(state, 5, ADD, 7, peer_urls=(URL.format(7),))[1] == (5, {})
    assert apply(state, 6, REMOVE, 7)[1] == (6, {})
    assert state.applied_index == 6
    # an entry already applied is skipped, and Raft is not asked to change
    assert apply(state, 6, REMOVE, 5) == (None, None)
    state.close()
    reopened = StateMachine(Backend(str(tmp_path / "kv")))
    assert reopened.applied_index == 6
    assert reopened.conf_state() == ConfState((1, 5), ())
    assert reopened.members.members[5].peer_urls == [URL.format(6)]
    assert reopened.members.removed == {7}
    reopened.close()


@pytest.mark.parametrize(
    ("kind", "node", "fields", "error"),
    [
        (ADD, 1, {"peer_urls": (URL.format(9),)}, errors.MemberIDExists),
        (ADD, 8, {"peer_urls": (URL.format(1),)}, errors.PeerURLExists),
        (LEARNER, 8, {"peer_urls": (URL.format(8),), "is_learner": True}, errors.TooManyLearners),
        (ADD, 1, {"promote": True}, errors.MemberNotLearner),
        (ADD, 8, {"promote": True}, errors.MemberNotFound),
        (REMOVE, 8, {}, errors.MemberNotFound),
        (UPDATE, 8, {"peer_urls": (URL.format(8),)}, errors.MemberNotFound),
        (UPDATE, 1, {"peer_urls": (URL.format(5),)}, errors.PeerURLExists),
        (ADD, 7, {"peer_urls": (URL.format(7),)}, errors.MemberNotFound),  # a removed ID
    ],
)
def test_a_change_that_does_not_fit_is_refused_and_only_the_index_moves(
    tmp_path: Path, kind: ConfChangeType, node: int, fields: dict, error: type
) -> None:
    state = founded(tmp_path / "kv")
    apply(state, 2, LEARNER, 5, peer_urls=(URL.format(5),), is_learner=True)
    apply(state, 3, ADD, 7, peer_urls=(URL.format(7),))
    apply(state, 4, REMOVE, 7)
    before = {
        i: (m.name, list(m.peer_urls), m.is_learner) for i, m in state.members.members.items()
    }
    change, outcome = apply(state, 5, kind, node, **fields)
    assert change is None and outcome is not None and isinstance(outcome[1], error)
    after = {i: (m.name, list(m.peer_urls), m.is_learner) for i, m in state.members.members.items()}
    assert after == before and state.applied_index == 5
    state.close()


def test_malformed_contexts_are_skipped_alike(tmp_path: Path) -> None:
    state = founded(tmp_path / "kv")
    for index, data in enumerate((b"", b"\xff", encode_conf_change(ConfChange(ADD, 3, b"x"))), 2):
        entry = Entry(term=2, index=index, type=EntryType.CONF_CHANGE, data=data)
        assert state.apply_conf_change(entry) == (None, None)
        assert state.applied_index == index
    assert decode_change(b"\x93\x01\x02\x03") is None
    state.close()


def test_a_snapshot_carries_the_members(tmp_path: Path) -> None:
    leader = founded(tmp_path / "a")
    apply(leader, 2, LEARNER, 5, peer_urls=(URL.format(5),), is_learner=True)
    joiner = StateMachine(Backend(str(tmp_path / "b")))
    joiner.claim(9, 5, str(tmp_path / "b"))
    assert joiner.conf_state() == ConfState()
    joiner.restore(leader.snapshot_data())
    assert joiner.conf_state() == ConfState((1,), (5,))
    assert joiner.identity() == (9, 5)
    leader.close()
    joiner.close()


def test_new_member_ids_depend_on_urls_and_time() -> None:
    # measured: etcd 3.4.23's member add of http://127.0.0.1:52390 at unix second 1795809761
    assert new_member_id(["http://127.0.0.1:52390"], 1795809761) == 15935260399654418074
    urls = [URL.format(2), URL.format(1)]
    assert new_member_id(urls, 100) == new_member_id(list(reversed(urls)), 100)
    assert new_member_id(urls, 100) != new_member_id(urls, 101)


class Server:
    """What the server gives the driver, around a state machine: events nobody hears."""

    def __init__(self, state: StateMachine) -> None:
        self.state = state

    def applied_index(self) -> int:
        return self.state.applied_index

    def apply(self, entries: list[Entry]) -> None:
        self.state.apply(entries)

    def apply_conf_change(self, entry: Entry) -> ConfChange | None:
        return self.state.apply_conf_change(entry)[0]

    def conf_state(self) -> ConfState:
        return self.state.conf_state()

    def make_durable(self) -> None: ...

    def snapshot_data(self) -> bytes:
        return self.state.snapshot_data()

    def restore(self, data: bytes) -> None:
        self.state.restore(data)

    def on_soft_state(self, *_: object) -> None: ...

    def on_read_states(self, *_: object) -> None: ...


def test_the_driver_starts_with_the_tables_configuration(tmp_path: Path) -> None:
    """A restart takes Raft's configuration from the table (conf changes applied before
    the last log compaction included, refused ones left out)."""

    async def scenario() -> None:
        state = founded(tmp_path / "kv")
        apply(state, 2, ADD, 4, peer_urls=(URL.format(4),))
        apply(state, 3, LEARNER, 5, peer_urls=(URL.format(5),), is_learner=True)
        apply(state, 4, LEARNER, 6, peer_urls=(URL.format(6),), is_learner=True)  # refused
        driver = RaftDriver(1, (1,), str(tmp_path / "wal"), Server(state), 0.01, 10, 100)
        assert driver.node.status().conf_state == ConfState((1, 4), (5,))
        await driver.stop()
        state.close()

    asyncio.run(scenario())


def test_peer_streams_take_any_url_an_update_may_give() -> None:
    """etcd 3.4 checks no URL on update: a bad one must not stop the members applying it."""
    from keyraft.raft.io.peer_transport import PeerTransport

    async def scenario() -> None:
        transport = PeerTransport(1, 9, {}, lambda _: None, lambda *_: None)
        transport.set_peers({2: "http://127.0.0.1:notaport", 3: "bad", 4: URL.format(4)})
        transport.set_peers({4: URL.format(5)})
        assert transport.connected_for(2) is None and transport.connected_for(4) is None
        await transport.stop()

    asyncio.run(scenario())
