"""etcd's JSON conventions for answers: proto field names, bytes as base64, 64-bit
integers as strings, zero values omitted, messages always present once set.

The server layer answers with plain dicts in proto field order holding native values,
their header holding only the revision; `encode_response` fills in the member's identity
(as etcd's v3rpc header filler does) and is the one place answers become bytes, for every
route and the fast path alike.
"""

from __future__ import annotations

import asyncio

import orjson
import pybase64

from keyraft.app.errors import EtcdError
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.requests import Int32
from keyraft.app.server.results import DeferredRecords, KeyValue

# Key-values encoded per step of a long answer: a few milliseconds of work.
ENCODE_STEP_KVS = 1_000


def _b64(data: bytes) -> str:
    return pybase64.b64encode_as_string(data)


def key_value(kv: KeyValue) -> dict:
    out: dict = {"key": _b64(kv.key)}
    if kv.create_revision:
        out["create_revision"] = str(kv.create_revision)
    if kv.mod_revision:
        out["mod_revision"] = str(kv.mod_revision)
    if kv.version:
        out["version"] = str(kv.version)
    if kv.value:
        out["value"] = _b64(kv.value)
    if kv.lease:
        out["lease"] = str(kv.lease)
    return out


def to_json_value(value: object) -> object:
    """Convert a native response value to its JSON form (zero scalars are dropped by
    the enclosing dict)."""
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            if isinstance(item, dict) or item:
                out[name] = to_json_value(item)
        return out
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if type(value) is int:
            return str(value)
        if type(value) is Int32:
            return int(value)
        # An enum (an IntEnum of the server's) by its name, as grpc-gateway writes enums.
        return value.name  # type: ignore[attr-defined]
    if isinstance(value, bytes):
        return _b64(value)
    if isinstance(value, KeyValue):
        return key_value(value)
    if isinstance(value, list):
        return [to_json_value(item) for item in value]
    if isinstance(value, DeferredRecords):
        return [key_value(kv) for kv in value.read_all()]
    return value


def encode(response: dict) -> bytes:
    return orjson.dumps(to_json_value(response))


def header(server: EtcdServer, revision: int) -> dict:
    """A ResponseHeader: who answers, at which revision and Raft term."""
    return {
        "cluster_id": server.cluster_id,
        "member_id": server.member.id,
        "revision": revision,
        "raft_term": server.term,
    }


def header_json(server: EtcdServer, revision: int) -> dict:
    """`to_json_value(header(server, revision))`, built directly: every answer has one,
    and walking it cost a put's answer four of its six conversions."""
    out = {"cluster_id": str(server.cluster_id), "member_id": str(server.member.id)}
    if revision:
        out["revision"] = str(revision)
    if server.term:
        out["raft_term"] = str(server.term)
    return out


def response_json(server: EtcdServer, response: dict) -> dict:
    """A server answer as JSON values, its header (if it has one) filled in."""
    found = response.get("header")
    if found is None:
        return to_json_value(response)  # type: ignore[return-value]
    out = {"header": header_json(server, found.get("revision", 0))}
    for name, item in response.items():
        if name != "header" and (isinstance(item, dict) or item):
            out[name] = to_json_value(item)
    return out


def encode_response(server: EtcdServer, response: dict) -> bytes:
    return orjson.dumps(response_json(server, response))


async def encode_response_stepped(server: EtcdServer, response: dict) -> bytes:
    """`encode_response` for answers of any size: long lists of key-values (a large
    range's kvs, also inside a txn, a delete's prev_kvs) are encoded a piece at a time,
    letting the event loop (and Raft's heartbeats) run between pieces, at most as many
    at once as large reads (`server.stepped_reads.slots`)."""
    holders = _long_kv_lists(response, [])
    if holders:
        async with server.stepped_reads.slots:
            for holder, name in holders:
                holder[name] = await _encode_kvs(holder[name])
    return encode_response(server, response)


def _long_kv_lists(value: dict, found: list[tuple[dict, str]]) -> list[tuple[dict, str]]:
    """`found`, plus (dict, field) of every list of more than one step of key-values in
    an answer. Not a generator, and not into the header every answer has (none holds
    key-values): this runs for every answer."""
    for name, item in value.items():
        if isinstance(item, dict):
            if name != "header":
                _long_kv_lists(item, found)
        elif isinstance(item, DeferredRecords):
            found.append((value, name))
        elif isinstance(item, list) and item:
            if isinstance(item[0], KeyValue):
                if len(item) > ENCODE_STEP_KVS:
                    found.append((value, name))
            elif len(item) <= ENCODE_STEP_KVS:  # e.g. a txn's responses
                for element in item:
                    if isinstance(element, dict):
                        _long_kv_lists(element, found)
    return found


async def _encode_kvs(kvs: list[KeyValue] | DeferredRecords) -> orjson.Fragment:
    """A list of key-values as JSON, one step at a time (records still to read are read
    a step at a time first)."""
    if isinstance(kvs, DeferredRecords):
        deferred = kvs
        while not deferred.read_step():
            await asyncio.sleep(0)
        kvs = deferred.read_all()
    pieces = []
    for start in range(0, len(kvs), ENCODE_STEP_KVS):
        if start:
            await asyncio.sleep(0)
        piece = [key_value(kv) for kv in kvs[start : start + ENCODE_STEP_KVS]]
        pieces.append(orjson.dumps(piece)[1:-1])
    return orjson.Fragment(b"[" + b",".join(pieces) + b"]")


def encode_error(error: EtcdError) -> bytes:
    return orjson.dumps({"error": error.message, "message": error.message, "code": error.code})
