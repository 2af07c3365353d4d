"""Unary RPCs answered by the protocol itself (app/lean.py): the same bytes as through
ASGI, in order when pipelined with other requests, and HTTP's details kept."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

from keyraft.app.connections import ClientLimits
from tests.app.test_connections import _connect, _request, member

LIMITS = ClientLimits()
MAX_REQUEST_BYTES = 4096  # bodies over 4 x (this + gRPC's overhead) are refused unread

# Requests in order (later ones see earlier writes), each as raw HTTP.
SEQUENCE = [
    _request("/v3/kv/put", b'{"key":"YQ==","value":"MQ==","prev_kv":true}'),
    _request("/v3/kv/range", b'{"key":"YQ=="}'),
    _request("/v3beta/kv/range", b'{"key":"YQ==","serializable":true}'),
    _request("/v3/kv/range", b'{"key":"YQ==",'),  # bad JSON
    _request("/v3/kv/range", b'{"key":5}'),  # a field of the wrong type
    _request("/v3/kv/put", b'{"key":"YQ==","value":"' + b"A" * 8000 + b'"}'),  # over the limit
    _request("/v3/kv/put", b'{"key":"YQ==","value":"' + b"A" * 40000 + b'"}'),  # refused unread
    _request(
        "/v3/kv/txn",
        b'{"compare":[{"key":"YQ==","target":"VALUE","value":"MQ=="}],'
        b'"success":[{"request_delete_range":{"key":"YQ=="}}]}',
    ),
    _request("/v3/kv/range?ignored=1", b'{"key":"YQ==","count_only":true}'),
    _request("/v3/lease/grant", b'{"TTL":"60","ID":"7"}'),
    _request("/v3/kv/range", b"{}"),  # no key: etcd's error
    b'POST /v3/kv/range HTTP/1.0\r\nContent-Length: 14\r\n\r\n{"key":"YQ=="}',
]


def _responses(connection: socket.socket, count: int) -> list[tuple[bytes, list[bytes], bytes]]:
    """`count` responses read off `connection`: (status line, header lines, body)."""
    buffer = b""
    answers = []
    while len(answers) < count:
        head, separator, rest = buffer.partition(b"\r\n\r\n")
        if not separator:
            chunk = connection.recv(65536)
            assert chunk, f"closed after {len(answers)} answers"
            buffer += chunk
            continue
        status, *headers = head.split(b"\r\n")
        length = next(int(h.split(b": ")[1]) for h in headers if h.startswith(b"content-length"))
        while len(rest) < length:
            chunk = connection.recv(65536)
            assert chunk, "closed mid-body"
            rest += chunk
        answers.append((status, headers, rest[:length]))
        buffer = rest[length:]
    return answers


def _normalized(answer: tuple[bytes, list[bytes], bytes]) -> tuple:
    """An answer without what differs between two members: the date, the IDs."""
    status, headers, body = answer
    kept = [
        b"content-length: n" if h.startswith(b"content-length:") else h
        for h in headers
        if not h.startswith(b"date:")
    ]
    text = re.sub(rb'"(cluster_id|member_id)":"\d+"', rb'"\1":"x"', body)
    return status, kept, json.loads(text)


def _run_sequence(url: str) -> list[tuple]:
    answers = []
    for raw in SEQUENCE:
        connection = _connect(url)
        connection.sendall(raw)
        answers.append(_normalized(_responses(connection, 1)[0]))
        connection.close()
    return answers


def test_lean_answers_are_the_asgi_answers(tmp_path: Path) -> None:
    with member(tmp_path / "lean", LIMITS, True, MAX_REQUEST_BYTES) as url:
        lean = _run_sequence(url)
    with member(tmp_path / "asgi", LIMITS, False, MAX_REQUEST_BYTES) as url:
        asgi = _run_sequence(url)
    statuses = [answer[0].split(b" ")[1] for answer in lean]
    assert statuses == [b"200"] * 3 + [b"400"] * 4 + [b"200"] * 3 + [b"400", b"200"]
    assert lean[-1][1][-1] == b"connection: close"  # HTTP/1.0: closed after the answer
    for index, (mine, reference) in enumerate(zip(lean, asgi, strict=True)):
        assert mine == reference, f"request {index}: {SEQUENCE[index][:60]!r}"


def test_pipelined_requests_are_answered_in_order(tmp_path: Path) -> None:
    with member(tmp_path, LIMITS) as url:
        connection = _connect(url)
        connection.sendall(
            _request("/v3/kv/put", b'{"key":"cA==","value":"MQ=="}')
            + b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"  # served through ASGI
            + _request("/v3/kv/put", b'{"key":"cA==","value":"Mg==","prev_kv":true}')
            + _request("/v3/kv/range", b'{"key":"cA=="}')
        )
        first, version, second, read = [
            json.loads(body) for _s, _h, body in _responses(connection, 4)
        ]
        assert "etcdserver" in version
        assert second["prev_kv"]["value"] == "MQ=="
        assert read["kvs"][0]["value"] == "Mg=="
        assert int(read["header"]["revision"]) == int(first["header"]["revision"]) + 1


def test_a_client_expecting_100_continue_gets_it_before_sending_its_body(
    tmp_path: Path,
) -> None:
    with member(tmp_path, LIMITS) as url:
        connection = _connect(url)
        body = b'{"key":"YQ=="}'
        connection.sendall(
            b"POST /v3/kv/range HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        assert connection.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        connection.sendall(body)
        ((status, _headers, answer),) = _responses(connection, 1)
        assert status == b"HTTP/1.1 200 OK" and "header" in json.loads(answer)
