"""The auth token of an HTTP request, where etcd's gateway finds it.

grpc-gateway turns `Grpc-Metadata-Token` into the gRPC metadata `token` and
`Authorization` into `authorization`; etcd's server reads `token` first. etcd 3.4 takes
the header's value raw; 3.5.x also accepts a `Bearer ` prefix, and so do we.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Headers = Iterable[tuple[bytes, bytes]]
_BEARER = "bearer "


def token_of(headers: Headers) -> str | None:
    authorization = None
    for name, value in headers:
        if name == b"grpc-metadata-token":
            return _raw(value)
        if name == b"authorization" and authorization is None:
            authorization = _raw(value)
    return authorization


def _raw(value: bytes) -> str:
    token = value.decode("latin-1").strip()
    if token[: len(_BEARER)].lower() == _BEARER:
        return token[len(_BEARER) :].strip()
    return token


def sse_token(headers: Headers, params: Mapping[str, str]) -> str | None:
    """The token of a server-sent-events request: the header's, else the `token` query
    parameter, since a browser's EventSource cannot set headers. (A URL may be logged by
    proxies; the console passes its short-lived auth token there only for these streams.)"""
    return token_of(headers) or params.get("token") or None
