"""The gateway streams' answer framing: the status goes out with the first line, each
line is its own chunk, an error before any line sets the status, and nothing follows the
end."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine

import orjson

from keyraft.app import errors
from keyraft.app.streams import LineWriter, result_line, stream_error_body, until_disconnected

NOT_FOUND = errors.EtcdError(5, "etcdserver: requested lease not found")


def answer(script: Callable[[LineWriter], Coroutine[object, object, None]]) -> list[dict]:
    """The ASGI messages a `LineWriter` sends while `script(writer)` runs."""
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(script(LineWriter(send)))
    return sent


def test_lines_are_chunks_after_a_200_start_and_the_end_closes_the_body() -> None:
    async def script(writer: LineWriter) -> None:
        await writer.result({"a": 1})
        await writer.line(b"raw\n")
        await writer.end()
        await writer.result({"late": True})

    start, first, second, end = answer(script)
    assert start["status"] == 200
    assert (b"content-type", b"application/json") in start["headers"]
    assert first["body"] == result_line({"a": 1}) == b'{"result":{"a":1}}\n'
    assert first["more_body"] and second["body"] == b"raw\n"
    assert end == {"type": "http.response.body", "body": b"", "more_body": False}


def test_an_error_before_any_line_sets_the_status() -> None:
    async def script(writer: LineWriter) -> None:
        await writer.stream_error(NOT_FOUND)
        await writer.end()

    start, error, _end = answer(script)
    assert start["status"] == NOT_FOUND.http_status
    assert error["body"] == stream_error_body(NOT_FOUND)
    assert orjson.loads(error["body"])["error"] == {
        "grpc_code": 5,
        "http_code": 404,
        "message": "etcdserver: requested lease not found",
        "http_status": "Not Found",
    }


def test_a_refusal_is_the_whole_answer_only_before_anything_was_sent() -> None:
    async def refused(writer: LineWriter) -> None:
        await writer.refuse("bad request")
        await writer.end()

    start, body = answer(refused)
    assert start["status"] == 500
    assert orjson.loads(body["body"]) == {
        "error": "bad request",
        "message": "bad request",
        "code": 2,
    }

    async def too_late(writer: LineWriter) -> None:
        await writer.result(1)
        await writer.refuse("bad request")

    assert [message["type"] for message in answer(too_late)] == [
        "http.response.start",
        "http.response.body",
    ]


def test_a_client_gone_mid_wait_cancels_the_work_and_is_told_so() -> None:
    """A waiting RPC (a lock) whose client goes away: its work is canceled and has
    finished canceling (it left the lock's queue) when the answer is (False, None); the
    InvalidStateError this once raised went to uvicorn as a server error."""
    cleaned: list[str] = []

    async def lock_wait() -> tuple[int, bytes]:
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0)  # leaving the queue takes a turn of its own
            cleaned.append("left the queue")
        return 200, b"{}"

    async def scenario() -> tuple[bool, object]:
        async def receive() -> dict:
            await asyncio.sleep(0.01)
            return {"type": "http.disconnect"}

        return await until_disconnected(receive, lock_wait())

    assert asyncio.run(scenario()) == (False, None)
    assert cleaned == ["left the queue"]


def test_work_that_ends_first_is_answered() -> None:
    async def scenario() -> tuple[bool, object]:
        async def receive() -> dict:
            await asyncio.sleep(60)
            return {"type": "http.disconnect"}

        async def work() -> str:
            return "done"

        return await until_disconnected(receive, work())

    assert asyncio.run(scenario()) == (True, "done")
