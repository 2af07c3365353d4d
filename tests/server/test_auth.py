"""The auth store inside the state machine: changes applied from the log, the revision
they bump, permissions as key intervals, checks made at apply with the user a proposal
carries, and auth surviving restarts and snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyraft.app.server import errors
from keyraft.app.server.auth.perms import Permission, Permissions
from keyraft.app.server.auth.store import AuthInfo
from keyraft.app.server.auth.tokens import SimpleTokens
from keyraft.app.server.requests import (
    AuthDisable,
    Authed,
    AuthEnable,
    AuthenticateAs,
    Compare,
    DeleteRange,
    LeaseGrant,
    LeaseRevoke,
    MalformedProposal,
    PermType,
    Put,
    Range,
    RoleAdd,
    RoleDelete,
    RoleGrantPermission,
    RoleRevokePermission,
    Txn,
    UserAdd,
    UserChangePassword,
    UserDelete,
    UserGrantRole,
    decode_proposal,
    encode_proposal,
)
from keyraft.app.server.state_machine import StateMachine
from keyraft.raft.messages import Entry
from keyraft.storage.backend import Backend

READ, WRITE, READWRITE = PermType.READ, PermType.WRITE, PermType.READWRITE


class Machine:
    """A state machine fed one entry at a time, answering each outcome."""

    def __init__(self, path: Path) -> None:
        self.state = StateMachine(Backend(str(path)))
        self.index = self.state.applied_index

    def apply(self, request: object) -> dict | errors.ServerError:
        self.index += 1
        data = encode_proposal(self.index, request)  # type: ignore[arg-type]
        ((_, outcome),) = self.state.apply([Entry(term=1, index=self.index, data=data)])
        return outcome

    def ok(self, request: object) -> dict:
        outcome = self.apply(request)
        assert isinstance(outcome, dict), outcome
        return outcome

    def as_user(self, user: str, request: object) -> dict | errors.ServerError:
        return self.apply(Authed(user, self.state.auth.revision, request))  # type: ignore[arg-type]


SETUP = (
    UserAdd("root", b"hash", False),
    UserGrantRole("root", "root"),
    RoleAdd("app"),
    RoleGrantPermission("app", READWRITE, b"app/", b"app0"),
    RoleGrantPermission("app", READ, b"conf", b""),
    UserAdd("alice", b"hash", False),
    UserGrantRole("alice", "app"),
    AuthEnable(),
)


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    found = Machine(tmp_path / "kv")
    for request in SETUP:
        found.ok(request)
    return found


# ---- permissions as intervals -----------------------------------------------------------


def test_a_range_must_be_covered_without_a_gap() -> None:
    perms = Permissions(
        [
            Permission(READ, b"a", b"c"),
            Permission(READWRITE, b"c", b"e"),
            Permission(READ, b"x", b""),  # one key
            Permission(WRITE, b"m", b"\x00"),  # every key from m on
        ]
    )
    assert perms.allows(False, b"a", b"e")  # [a,c) + [c,e) touch
    assert not perms.allows(False, b"a", b"f")
    assert perms.allows(False, b"b", b"")
    assert not perms.allows(True, b"b", b"")
    assert perms.allows(True, b"d", b"")
    assert perms.allows(False, b"x", b"")
    assert not perms.allows(False, b"x", b"y")  # a single key does not cover a range
    assert not perms.allows(False, b"x\x00", b"")
    assert perms.allows(True, b"zzz", b"")
    assert perms.allows(True, b"m", b"\x00")
    assert not perms.allows(True, b"l", b"\x00")


# ---- changes, revisions, refusals --------------------------------------------------------


def test_every_change_bumps_the_revision_except_enable_and_refusals(tmp_path: Path) -> None:
    machine = Machine(tmp_path / "kv")
    auth = machine.state.auth
    assert auth.revision == 1 and not auth.enabled
    for request in SETUP[:-1]:
        before = auth.revision
        machine.ok(request)
        assert auth.revision == before + 1
    revision = auth.revision
    machine.ok(AuthEnable())
    assert auth.enabled and auth.revision == revision  # as in etcd
    assert isinstance(machine.apply(RoleAdd("app")), errors.ServerError)  # user name is empty
    assert auth.revision == revision
    assert isinstance(machine.as_user("root", RoleAdd("app")), errors.RoleAlreadyExists)
    assert isinstance(machine.as_user("root", UserGrantRole("x", "app")), errors.UserNotFound)
    assert auth.revision == revision
    machine.ok(Authed("root", 0, UserGrantRole("alice", "app")))  # granted already: no change
    assert auth.revision == revision


@pytest.mark.parametrize(
    ("request_", "error"),
    [
        (AuthDisable(), errors.PermissionDenied),
        (UserAdd("bob", b"h", False), errors.PermissionDenied),
        (RoleDelete("app"), errors.PermissionDenied),
    ],
)
def test_auth_changes_need_the_root_role(
    machine: Machine, request_: object, error: type[errors.ServerError]
) -> None:
    revision = machine.state.auth.revision
    assert isinstance(machine.as_user("alice", request_), error)
    assert isinstance(machine.apply(request_), errors.UserEmpty)  # no user at all
    assert machine.state.auth.revision == revision


def test_root_cannot_be_locked_out_while_enabled(machine: Machine) -> None:
    for request in (UserDelete("root"), RoleDelete("root")):
        assert isinstance(machine.as_user("root", request), errors.InvalidAuthManagement)


def test_role_grants_stay_sorted_and_revokes_need_the_exact_interval(machine: Machine) -> None:
    machine.as_user("root", RoleGrantPermission("app", WRITE, b"b", b""))
    machine.as_user("root", RoleGrantPermission("app", WRITE, b"app/", b"app0"))  # replaced
    perms = machine.state.auth.roles["app"]
    assert [(p.key, p.perm_type) for p in perms] == [
        (b"app/", WRITE),
        (b"b", WRITE),
        (b"conf", READ),
    ]
    refused = machine.as_user("root", RoleRevokePermission("app", b"app/", b""))
    assert isinstance(refused, errors.PermissionNotGranted)
    assert isinstance(
        machine.as_user("root", RoleGrantPermission("app")), errors.PermissionNotGiven
    )


# ---- writes checked at apply ------------------------------------------------------------


def test_writes_are_checked_with_the_user_their_proposal_carries(machine: Machine) -> None:
    assert isinstance(machine.as_user("alice", Put(b"app/x", b"1")), dict)
    assert isinstance(machine.as_user("alice", Put(b"conf", b"1")), errors.PermissionDenied)
    assert isinstance(machine.as_user("alice", Put(b"app/x", b"1", prev_kv=True)), dict)
    denied = machine.as_user("alice", DeleteRange(b"app/", b"app1"))  # wider than granted
    assert isinstance(denied, errors.PermissionDenied)
    assert isinstance(machine.apply(Put(b"app/x", b"2")), errors.UserEmpty)
    assert isinstance(machine.as_user("mallory", Put(b"app/x", b"2")), errors.PermissionDenied)
    assert machine.state.store.current_revision == 3  # the two allowed puts


def test_a_txn_needs_every_compare_and_op_of_both_branches_nested_too(machine: Machine) -> None:
    allowed = Txn((Compare(key=b"conf"),), (Put(b"app/a", b"1"),), (Range(b"app/b"),))
    assert isinstance(machine.as_user("alice", allowed), dict)
    for txn in (
        Txn((Compare(key=b"other"),), (Put(b"app/a", b"1"),), ()),
        Txn((), (Put(b"app/a", b"1"),), (Put(b"other", b"1"),)),
        Txn((), (Txn((), (), (Put(b"other", b"1"),)),), ()),  # etcd 3.4 misses this one
    ):
        assert isinstance(machine.as_user("alice", txn), errors.PermissionDenied)


def test_a_proposal_judged_at_an_older_auth_revision_is_refused(machine: Machine) -> None:
    """Check and apply are atomic with auth changes: a put read-checked before the role
    lost its permission, committed after, is refused on every member."""
    stale = Authed("alice", machine.state.auth.revision, Put(b"app/x", b"1"))
    machine.as_user("root", RoleRevokePermission("app", b"app/", b"app0"))
    assert isinstance(machine.apply(stale), errors.AuthOldRevision)
    assert machine.state.store.current_revision == 1


def test_a_lease_is_revoked_only_by_who_may_write_its_keys(machine: Machine) -> None:
    machine.as_user("root", LeaseGrant(60, 5))
    machine.as_user("root", Put(b"secret", b"1", lease=5))
    assert isinstance(machine.as_user("alice", LeaseRevoke(5)), errors.PermissionDenied)
    assert isinstance(
        machine.as_user("alice", Put(b"app/y", b"1", lease=5)), errors.PermissionDenied
    )
    assert isinstance(machine.apply(LeaseRevoke(5)), dict)  # the leader's expiry: as root


# ---- tokens -----------------------------------------------------------------------------


def test_a_simple_token_is_issued_at_apply_and_dropped_with_its_user(machine: Machine) -> None:
    now = [0.0]
    machine.state.auth.tokens = tokens = SimpleTokens(lambda: now[0], ttl_s=10)
    answer = machine.ok(AuthenticateAs("alice", "abcdefghijklmnop"))
    token = answer["token"]
    assert token == f"abcdefghijklmnop.{machine.index}"
    assert tokens.info(token) == ("alice", None)
    now[0] = 9.0
    assert tokens.info(token) is not None  # used: the TTL slides
    now[0] = 18.0
    assert tokens.info(token) is not None
    machine.as_user("root", UserChangePassword("alice", b"new"))
    assert tokens.info(token) is None
    assert isinstance(machine.apply(AuthenticateAs("nobody", "x" * 16)), errors.AuthFailed)


# ---- persistence ------------------------------------------------------------------------


def test_auth_survives_a_restart_and_travels_in_snapshots(machine: Machine, tmp_path: Path) -> None:
    auth = machine.state.auth
    expected = (auth.enabled, auth.revision, dict(auth.users), dict(auth.roles))
    data = machine.state.snapshot_data()
    machine.state.close()
    reopened = StateMachine(Backend(str(tmp_path / "kv")))
    again = reopened.auth
    assert (again.enabled, again.revision, again.users, again.roles) == expected
    follower = StateMachine(Backend(str(tmp_path / "follower")))
    follower.restore(data)
    restored = follower.auth
    assert (restored.enabled, restored.revision, restored.users, restored.roles) == expected
    restored.check(AuthInfo("alice", restored.revision), True, b"app/x", b"")


def test_passwords_never_reach_the_log() -> None:
    entry = encode_proposal(1, UserAdd("alice", b"$2b$04$hash", False))
    assert decode_proposal(entry) == (1, UserAdd("alice", b"$2b$04$hash", False))
    nested = encode_proposal(1, Authed("a", 1, Authed("b", 1, Put())))  # type: ignore[arg-type]
    with pytest.raises(MalformedProposal):
        decode_proposal(nested)
