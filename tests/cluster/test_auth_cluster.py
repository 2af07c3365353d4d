"""Auth across a cluster (three members in one event loop): every change is applied
identically on every member, and a token issued through one member works on the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path

import pytest

from keyraft.app.server import errors
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import (
    AuthEnable,
    Authenticate,
    ChangePasswordRequest,
    PermType,
    Put,
    Range,
    RoleAdd,
    RoleGrantPermission,
    UserAddRequest,
    UserGrantRole,
)
from tests.support.inprocess_cluster import InProcessCluster, run_cluster

pytestmark = pytest.mark.timeout(120)


def auth_state(server: EtcdServer) -> tuple:
    auth = server.state.auth
    return auth.enabled, auth.revision, auth.users, auth.roles


def test_auth_is_replicated_and_tokens_work_on_every_member(tmp_path: Path) -> None:
    async def scenario(cluster: InProcessCluster) -> None:
        async def done(work: Awaitable[dict]) -> dict:
            return await cluster.until(asyncio.ensure_future(work))

        leader = await cluster.leader()
        first, second = cluster.followers(leader)
        # each change through another member: all go through the leader's log alike
        through = {
            UserAddRequest: first.auth.user_add,
            UserGrantRole: leader.auth.user_grant,
            RoleAdd: second.auth.role_add,
            RoleGrantPermission: first.auth.role_grant,
        }
        for request in (
            UserAddRequest("root", "rootpw"),
            UserGrantRole("root", "root"),
            RoleAdd("app"),
            RoleGrantPermission("app", PermType.READWRITE, b"app/", b"app0"),
            UserAddRequest("alice", "alicepw"),
            UserGrantRole("alice", "app"),
        ):
            await done(through[type(request)](request))  # type: ignore[operator]
        await done(leader.auth.enable(AuthEnable()))
        await cluster.advance(0.2)  # the commit index reaches every member
        states = [auth_state(server) for server in cluster.running()]
        assert states[0][0] is True and states[0][1] == 7
        assert states[1:] == states[:1] * 2
        assert b"alicepw" not in states[0][2]["alice"].password  # a bcrypt hash

        answer = await done(first.auth.authenticate(Authenticate("alice", "alicepw")))
        token = answer["token"]
        await cluster.advance(0.2)
        alice = second.auth.info(token)  # issued through `first`, known to `second`
        assert alice.user == "alice"
        await done(second.put(Put(b"app/x", b"1"), alice))
        with pytest.raises(errors.PermissionDenied):
            await done(leader.put(Put(b"other", b"1"), leader.auth.info(token)))
        read = await done(leader.range(Range(b"app/x"), leader.auth.info(token)))
        assert read["kvs"][0].value == b"1"

        root = leader.auth.info(
            (await done(leader.auth.authenticate(Authenticate("root", "rootpw"))))["token"]
        )
        await done(leader.auth.user_change_password(ChangePasswordRequest("alice", "new"), root))
        await cluster.advance(0.2)
        for server in cluster.running():
            with pytest.raises(errors.InvalidAuthToken):
                server.auth.info(token)
        with pytest.raises(errors.AuthFailed):
            await done(second.auth.authenticate(Authenticate("alice", "alicepw")))

    run_cluster(tmp_path, scenario, bcrypt_cost=4)
