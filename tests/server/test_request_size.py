"""The gateway computes a request's exact protobuf size only for bodies over half the
limit, relying on: protobuf size <= 2 x the JSON text, for every request a client can
write. Checked here on random requests of every message, in their tightest JSON form."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyraft.app.gateway import RPCS
from keyraft.app.schema import MESSAGES, Field, decode_request
from keyraft.app.server.request_size import PROTOBUF_PER_ENTRY_BYTE, encoded_size
from keyraft.app.server.requests import encode_proposal

PROPOSAL_PATHS = {
    "/v3/kv/put",
    "/v3/kv/deleterange",
    "/v3/kv/txn",
    "/v3/kv/compaction",
    "/v3/lease/grant",
    "/v3/lease/revoke",
}
INT64 = st.integers(-(2**63), 2**63 - 1)
UINT64 = st.integers(0, 2**64 - 1)


def _value(field: Field, depth: int) -> st.SearchStrategy:
    if field.kind == "message":
        return _message(field.message, depth + 1)
    if field.kind == "bytes":
        return st.binary(max_size=24).map(lambda data: base64.b64encode(data).decode())
    if field.kind == "bool":
        return st.booleans()
    if field.kind == "enum":
        return st.sampled_from(sorted(field.enum.values.values()))
    if field.kind == "string":
        return st.text(max_size=12)
    if field.kind == "uint64":
        return UINT64
    if field.kind == "int32":
        return st.integers(-(2**31), 2**31 - 1)
    return INT64


def _message(name: str, depth: int = 0) -> st.SearchStrategy:
    fields = [
        item
        for item in MESSAGES[name].fields
        if item.kind != "message" or depth < 2  # nested txns: two levels are plenty
    ]
    entries = {}
    for item in fields:
        value = _value(item, depth)
        if item.repeated:
            value = st.lists(value, max_size=3)
        # The shortest name a client may use (proto or lowerCamel JSON name).
        name_used = min(item.name, item.json_name, key=len)
        entries[name_used] = value
    return st.fixed_dictionaries({}, optional=entries)


@pytest.mark.parametrize("schema", sorted({rpc.request_schema for rpc in RPCS.values()}))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_protobuf_size_never_exceeds_twice_the_json(schema: str, data: st.DataObject) -> None:
    request = data.draw(_message(schema))
    body = json.dumps(request, separators=(",", ":")).encode()
    assert encoded_size(decode_request(schema, body)) <= 2 * len(body)


PROPOSED = sorted(
    {(rpc.request_schema, rpc.build) for rpc in RPCS.values() if rpc.path in PROPOSAL_PATHS}
)


@pytest.mark.parametrize(("schema", "build"), PROPOSED, ids=[schema for schema, _ in PROPOSED])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_typed_request_is_at_most_its_messages_size_and_11x_its_log_entry(
    schema: str, build, data: st.DataObject
) -> None:
    """The server checks etcd's size limit exactly only for log entries over 1/11 of it.
    (A typed op holds one request where a JSON op may name several: never larger.)"""
    message = decode_request(schema, json.dumps(data.draw(_message(schema))).encode())
    request = build(message)
    assert encoded_size(request) <= encoded_size(message)
    assert encoded_size(request) <= PROTOBUF_PER_ENTRY_BYTE * len(encode_proposal(0, request))
