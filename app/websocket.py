"""The gateway over WebSocket, as etcd's (grpc-websocket-proxy around the whole gateway).

A WebSocket opened on a gateway path (`/v3/watch`, `/v3/lease/keepalive`, and the unary
RPCs too) is served by the very handler the POST form has: each frame the client sends
(text or binary) is fed to the request body followed by a newline, and each line of the
answer goes back as one text frame, without its newline. When the answer ends the socket
is closed (etcd drops it). Measured on etcd 3.4.23: the same `{"result": ...}` messages
as the streaming POST; a bad first request answers one error frame, then the end; an
unknown path is refused at the handshake (404 there; 403 here, as uvicorn refuses).

Browsers cannot set an Authorization header on a WebSocket: the token is also taken from
the `Sec-WebSocket-Protocol` header (`Bearer, <token>`, the "Bearer" protocol then being
accepted) or from a `token` cookie, as etcd's proxy does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import Message, Receive, Scope, Send

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


def _token(scope: Scope) -> tuple[bytes | None, bytes | None]:
    """(token, the subprotocol to accept) from the handshake's protocol or cookie."""
    for name, value in scope.get("headers", ()):
        if name == b"sec-websocket-protocol":
            offered = [item.strip() for item in value.split(b",")]
            if len(offered) >= 2 and offered[0].lower() == b"bearer":
                return offered[1], offered[0]
        if name == b"cookie":
            for item in value.split(b";"):
                key, _, token = item.strip().partition(b"=")
                if key == b"token" and token:
                    return token, None
    return None, None


def http_scope(scope: Scope) -> Scope:
    """The POST request a WebSocket stands for (its token, if any, as Authorization)."""
    headers = list(scope.get("headers", ()))
    token, _protocol = _token(scope)
    if token is not None and not any(name == b"authorization" for name, _ in headers):
        headers.append((b"authorization", token))
    return {
        **scope,
        "type": "http",
        "method": "POST",
        "scheme": "https" if scope.get("scheme") == "wss" else "http",
        "headers": headers,
        "http_version": "1.1",
    }


async def serve_websocket(
    scope: Scope, receive: Receive, send: Send, handler: Handler, unary: bool
) -> None:
    """Accept the socket and run `handler` over it (`unary`: its first frame is the
    whole request body)."""
    handshake = await receive()
    if handshake["type"] != "websocket.connect":
        return
    _token_value, protocol = _token(scope)
    accept: Message = {"type": "websocket.accept"}
    if protocol is not None:
        accept["subprotocol"] = protocol.decode("latin-1")
    await send(accept)
    closed = False
    pending = b""

    async def receive_as_http() -> Message:
        nonlocal closed
        if closed:
            return {"type": "http.disconnect"}
        message = await receive()
        if message["type"] == "websocket.disconnect":
            closed = True
            return {"type": "http.disconnect"}
        text = message.get("text")
        body = text.encode() if text is not None else message.get("bytes") or b""
        return {"type": "http.request", "body": body + b"\n", "more_body": not unary}

    async def send_as_frames(message: Message) -> None:
        nonlocal pending, closed
        if closed or message["type"] != "http.response.body":
            return
        pending += message.get("body", b"")
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line:
                await send({"type": "websocket.send", "text": line.decode()})
        if not message.get("more_body", False):
            if pending:
                await send({"type": "websocket.send", "text": pending.decode()})
            pending = b""
            closed = True
            await send({"type": "websocket.close", "code": 1000})

    try:
        await handler(http_scope(scope), receive_as_http, send_as_frames)
    finally:
        if not closed:
            closed = True
            await send({"type": "websocket.close", "code": 1000})
