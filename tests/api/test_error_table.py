"""The face's one error table covers every typed server error, with etcd's codes."""

from __future__ import annotations

import pytest

from keyraft.app import errors as face
from keyraft.app.server import errors as server


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


@pytest.mark.parametrize("cls", _subclasses(server.ServerError), ids=lambda cls: cls.__name__)
def test_every_server_error_has_a_grpc_code(cls: type) -> None:
    assert cls in face.GRPC_CODE


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (server.KeyNotProvided(), 3, 400),
        (server.Compacted(), 11, 400),
        (server.LeaseNotFound(), 5, 404),
        (server.LeaseExists(), 9, 412),
        (server.NoSpace(), 8, 429),
        (server.NoLeader(), 14, 503),
        (server.RequestTimedOut(), 14, 503),
        # auth, as measured on etcd 3.4.23
        (server.UserEmpty(), 3, 400),
        (server.InvalidAuthToken(), 16, 401),
        (server.PermissionDenied(), 7, 403),
        (server.UserNotFound(), 9, 412),
        (server.RootUserNotExist(), 9, 412),
        (server.AuthNotEnabled(), 9, 412),
        (server.AuthFailed(), 3, 400),
        (server.AuthOldRevision(), 3, 400),
        (server.InvalidAuthManagement(), 3, 400),
        (server.NoPasswordUser(), 2, 500),
    ],
)
def test_codes_and_statuses_are_etcds(error: server.ServerError, code: int, status: int) -> None:
    mapped = face.from_server(error)
    assert (mapped.code, mapped.http_status, mapped.message) == (code, status, error.message)


def test_an_error_forwarded_by_another_member_keeps_its_type() -> None:
    assert isinstance(
        server.from_message("etcdserver: requested lease not found"), server.LeaseNotFound
    )
    unknown = server.from_message("something new")
    assert face.from_server(unknown).code == face.UNKNOWN
