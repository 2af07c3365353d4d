"""GET/PUT/DELETE /v3/keys/{key}: keys and values as plain text, for curl (etcd-io/etcd#9428).

A friendly form beside etcd's surface, which it leaves as it is: each request is turned
into the etcd JSON request it means and served by the same dispatcher as POST
/v3/kv/range, /put and /deleterange, so auth, validation, limits and errors (etcd's
`{"error", "message", "code"}`) are theirs. The key is the rest of the path (it may hold
`/`); the value is the raw body of a PUT and the raw body of a GET's answer.
"""

from __future__ import annotations

import base64
from urllib.parse import unquote_to_bytes

import orjson
from fastapi import APIRouter, Request, Response
from starlette.convertors import PathConvertor, register_url_convertor

from keyraft.app import codec, errors
from keyraft.app.asgi import BodyTooLarge, read_body
from keyraft.app.gateway import RPCS, body_cap, dispatch, oversized_body
from keyraft.app.keys import prefix_end
from keyraft.app.openapi_primitives import json_response, ref
from keyraft.app.openapi_responses import error_responses, query_parameter
from keyraft.app.openapi_schemas import SECURITY


class KeyConvertor(PathConvertor):
    """The rest of the path, whatever it holds: a key may contain `/` and newlines."""

    regex = "(?s:.*)"


register_url_convertor("key", KeyConvertor())
router = APIRouter()
PATH = "/v3/keys/{key:key}"
JSON = "application/json"
TEXT = "text/plain"
NOT_FOUND = errors.EtcdError(errors.NOT_FOUND, "keyraft: key not found")
# The revision headers of a GET of one key (etcd's KeyValue fields).
HEADERS = {
    "x-keyraft-revision": "the store's revision when it answered",
    "x-keyraft-create-revision": "the revision that created the key",
    "x-keyraft-mod-revision": "the revision of the key's last change",
    "x-keyraft-version": "changes since creation (1 = new)",
    "x-keyraft-lease": "the attached lease (0 = none)",
}
_STATUSES = {400, 401, 403, 404, 429, 503}


class _Refused(Exception):
    def __init__(self, status: int, payload: bytes) -> None:
        self.status = status
        self.payload = payload


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name, "false").lower()
    if value not in ("true", "1", "false", "0", ""):
        raise errors.invalid(f"{name}: {value!r} is not a boolean (true or false)")
    return value in ("true", "1", "")


def _number(request: Request, name: str) -> int:
    value = request.query_params.get(name, "0")
    if not value.isdigit() or len(value) > 19:
        raise errors.invalid(f"{name}: {value!r} is not a revision or ID (0 to 2^63-1)")
    return int(value)


def _key(request: Request, key: str) -> bytes:
    """The key's bytes as percent-encoded in the request (the decoded path is text, so a
    key that is not UTF-8 would be lost in it)."""
    raw = request.scope.get("raw_path") or b""
    prefix = b"/v3/keys/"
    return unquote_to_bytes(raw[len(prefix) :]) if raw.startswith(prefix) else key.encode()


def _range(key: bytes, prefix: bool) -> dict:
    """etcd's key/range_end for one key, or every key under a prefix ("" = all)."""
    if not prefix:
        return {"key": _b64(key)}
    start = key or b"\0"
    return {"key": _b64(start), "range_end": _b64(prefix_end(key) if key else b"\0")}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _call(request: Request, path: str, message: dict) -> dict:
    """Serve `message` as the etcd RPC at `path`; its JSON answer, or _Refused."""
    body = orjson.dumps(message)
    status, payload = await dispatch(
        request.app.state.server, RPCS[path], body, request.headers.raw
    )
    if status != 200:
        raise _Refused(status, payload)
    return orjson.loads(payload)


def _error(error: errors.EtcdError) -> Response:
    return Response(codec.encode_error(error), error.http_status, media_type=JSON)


def _text_or_b64(name: str, data: bytes) -> dict:
    try:
        return {name: data.decode()}
    except UnicodeDecodeError:
        return {name + "_b64": _b64(data)}


def _friendly(kv: dict) -> dict:
    item = {
        **_text_or_b64("key", base64.b64decode(kv.get("key", ""))),
        **_text_or_b64("value", base64.b64decode(kv.get("value", ""))),
    }
    for field in ("create_revision", "mod_revision", "version", "lease"):
        item[field] = int(kv.get(field, 0))
    return item


def _revision(answer: dict) -> int:
    return int(answer.get("header", {}).get("revision", 0))


async def get_key(key: str, request: Request) -> Response:
    try:
        prefix = _flag(request, "prefix")
        message = {**_range(_key(request, key), prefix), "revision": _number(request, "rev")}
        message["limit"] = _number(request, "limit")
        answer = await _call(request, "/v3/kv/range", message)
    except errors.EtcdError as error:
        return _error(error)
    except _Refused as refused:
        return Response(refused.payload, refused.status, media_type=JSON)
    kvs = answer.get("kvs", [])
    if prefix:
        listing = {
            "kvs": [_friendly(kv) for kv in kvs],
            "count": int(answer.get("count", 0)),
            "more": bool(answer.get("more")),
            "revision": _revision(answer),
        }
        return Response(orjson.dumps(listing), media_type=JSON)
    if not kvs:
        return _error(NOT_FOUND)
    kv = kvs[0]
    headers = {"x-keyraft-revision": str(_revision(answer))}
    for field in ("create_revision", "mod_revision", "version", "lease"):
        headers["x-keyraft-" + field.replace("_", "-")] = str(kv.get(field, 0))
    return Response(base64.b64decode(kv.get("value", "")), headers=headers, media_type=TEXT)


async def put_key(key: str, request: Request) -> Response:
    server = request.app.state.server
    try:
        lease = _number(request, "lease")
        value = await read_body(request.receive, body_cap(server) * 3 // 4)
        message = {"key": _b64(_key(request, key)), "value": _b64(value), "lease": lease}
        answer = await _call(request, "/v3/kv/put", message)
    except errors.EtcdError as error:
        return _error(error)
    except BodyTooLarge as error:
        status, payload = oversized_body(server, error.length * 4 // 3)
        return Response(payload, status, media_type=JSON)
    except _Refused as refused:
        return Response(refused.payload, refused.status, media_type=JSON)
    return Response(orjson.dumps({"revision": _revision(answer)}), media_type=JSON)


async def delete_key(key: str, request: Request) -> Response:
    try:
        message = _range(_key(request, key), _flag(request, "prefix"))
        answer = await _call(request, "/v3/kv/deleterange", message)
    except errors.EtcdError as error:
        return _error(error)
    except _Refused as refused:
        return Response(refused.payload, refused.status, media_type=JSON)
    written = {"revision": _revision(answer), "deleted": int(answer.get("deleted", 0))}
    return Response(orjson.dumps(written), media_type=JSON)


def _write_responses() -> dict:
    return {
        "200": json_response("Done, at this revision", ref("keyraftKeyWrite")),
        **error_responses(_STATUSES),
    }


_PREFIX = query_parameter("prefix", "`true`: every key that starts with `key`", "boolean")
_KEY_DOC = (
    "The key is the rest of the path, as text (it may contain `/`; percent-encode other bytes). "
)
router.add_api_route(
    PATH,
    get_key,
    methods=["GET"],
    tags=["Keys"],
    operation_id="KeyGet",
    summary="Read a key's value as plain text, or list the keys under a prefix as JSON",
    description=_KEY_DOC
    + "One key: its raw value (`text/plain`), its revisions in `X-Keyraft-*` headers, 404 "
    "when it does not exist. `?prefix=true`: a JSON list (`keyraftKeyList`) of the keys "
    "under it in key order (`/v3/keys/?prefix=true`: every key). `?rev=` reads at a past "
    "revision; `?limit=` caps a listing.",
    response_class=Response,
    openapi_extra={
        "parameters": [
            *_PREFIX,
            *query_parameter("rev", "read at this revision (0 = the latest)", "integer"),
            *query_parameter("limit", "most keys to list (0 = no limit)", "integer"),
        ],
        "responses": {
            "200": {
                "description": "The value, or with `?prefix=true` the keys under the prefix",
                "headers": {
                    name: {"description": text, "schema": {"type": "string"}}
                    for name, text in HEADERS.items()
                },
                "content": {
                    TEXT: {"schema": {"type": "string"}},
                    JSON: {"schema": ref("keyraftKeyList")},
                },
            },
            **error_responses(_STATUSES),
        },
        "security": SECURITY,
    },
)
router.add_api_route(
    PATH,
    put_key,
    methods=["PUT"],
    tags=["Keys"],
    operation_id="KeyPut",
    summary="Set a key to the request body, as is",
    description=_KEY_DOC + "`?lease=` attaches a lease (its ID in decimal).",
    response_class=Response,
    openapi_extra={
        "parameters": query_parameter("lease", "a lease to attach (0 = none)", "integer"),
        "requestBody": {
            "required": False,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        "responses": _write_responses(),
        "security": SECURITY,
    },
)
router.add_api_route(
    PATH,
    delete_key,
    methods=["DELETE"],
    tags=["Keys"],
    operation_id="KeyDelete",
    summary="Delete a key, or every key under a prefix",
    description=_KEY_DOC + "`?prefix=true` deletes every key that starts with the key.",
    response_class=Response,
    openapi_extra={"parameters": _PREFIX, "responses": _write_responses(), "security": SECURITY},
)
