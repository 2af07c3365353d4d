"""Turn gateway JSON into the JSON etcdctl prints (Go's encoding/json of its structs).

The gateway writes 64-bit integers as strings and enums as names; etcdctl marshals the Go
structs directly, so integers are numbers, enums are numbers, clientv3 wrapper types use
their Go field names, and `<`, `>`, `&` are escaped. Field order is the proto order in both.
"""

from __future__ import annotations

import orjson

from keyraft.ctl.output.base import permission_type

INT_FIELDS = frozenset(
    {
        "cluster_id", "member_id", "revision", "raft_term", "create_revision",
        "mod_revision", "version", "lease", "count", "deleted", "ID", "TTL", "grantedTTL",
        "dbSize", "dbSizeInUse", "leader", "raftIndex", "raftTerm", "raftAppliedIndex",
        "compact_revision", "watch_id", "authRevision",
    }
)  # fmt: skip
EVENT_TYPES = {"PUT": 0, "DELETE": 1}


def dumps(value: object) -> str:
    text = orjson.dumps(value).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def ints(value: object, keep_strings: frozenset[str] = frozenset()) -> object:
    """Recursively turn the integer fields' strings back into numbers."""
    if isinstance(value, dict):
        return {
            key: int(item)
            if key in INT_FIELDS and key not in keep_strings and isinstance(item, str)
            else ints(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [ints(item) for item in value]
    return value


ALARM_TYPES = {"NONE": 0, "NOSPACE": 1, "CORRUPT": 2}


def alarms(response: dict) -> dict:
    """memberID and the alarm enum as numbers (etcd's answer has no header)."""
    listed = []
    for raised in response.get("alarms", []):
        member = int(raised.get("memberID", 0) or 0)
        kind = ALARM_TYPES.get(raised.get("alarm", "NONE"), 0)
        listed.append(
            {**({"memberID": member} if member else {}), **({"alarm": kind} if kind else {})}
        )
    return {"alarms": listed} if listed else {}


def header(response: dict) -> dict:
    return ints(response.get("header", {}))  # type: ignore[return-value]


def flat_header(response: dict) -> dict:
    """clientv3 types embed `*pb.ResponseHeader`, so its fields sit at the top level."""
    return header(response)


def txn(response: dict) -> dict:
    """gogo's oneof wrappers show up in Go's JSON as `{"Response":{"ResponsePut":...}}`."""
    names = {
        "response_range": "ResponseRange",
        "response_put": "ResponsePut",
        "response_delete_range": "ResponseDeleteRange",
    }
    out = {}
    for key, item in response.items():
        if key == "responses":
            out[key] = [
                {"Response": {names[kind]: ints(body) for kind, body in op.items()}} for op in item
            ]
        else:
            out[key] = ints(item)
    return out


def event(raw: dict) -> dict:
    out: dict = {}
    kind = EVENT_TYPES.get(raw.get("type", "PUT"), 0)
    if kind:
        out["type"] = kind
    for key in ("kv", "prev_kv"):
        if key in raw:
            out[key] = ints(raw[key])
    return out


def watch(response: dict) -> dict:
    """clientv3.WatchResponse: Go field names, no omitempty outside the header."""
    events = response.get("events")
    return {
        "Header": header(response),
        "Events": [event(item) for item in events]
        if events or response.get("canceled")  # clientv3 gives a canceled answer no nil
        else None,
        "CompactRevision": int(response.get("compact_revision", 0) or 0),
        "Canceled": bool(response.get("canceled", False)),
        "Created": bool(response.get("created", False)),
    }


def grant(response: dict) -> dict:
    return {
        **flat_header(response),
        "ID": int(response.get("ID", 0) or 0),
        "TTL": int(response.get("TTL", 0) or 0),
        "Error": response.get("error", ""),
    }


def keep_alive(response: dict) -> dict:
    return {
        **flat_header(response),
        "ID": int(response.get("ID", 0) or 0),
        "TTL": int(response.get("TTL", 0) or 0),
    }


def time_to_live(response: dict) -> dict:
    return {
        **flat_header(response),
        "id": int(response.get("ID", 0) or 0),
        "ttl": int(response.get("TTL", 0) or 0),
        "granted-ttl": int(response.get("grantedTTL", 0) or 0),
        "keys": response.get("keys") or None,
    }


def leases(response: dict) -> dict:
    return {
        **flat_header(response),
        "leases": [{"id": int(item.get("ID", 0) or 0)} for item in response.get("leases", [])],
    }


def role_get(response: dict) -> dict:
    """authpb.Permission: the type as a number, omitted when READ (Go's omitempty)."""
    out: dict = {"header": header(response)}
    permissions = []
    for raw in response.get("perm", []):
        permission: dict = {}
        kind = permission_type(raw)
        if kind:
            permission["permType"] = kind
        for key in ("key", "range_end"):
            if raw.get(key):
                permission[key] = raw[key]
        permissions.append(permission)
    if permissions:
        out["perm"] = permissions
    return out


def status(endpoint: str, response: dict) -> dict:
    return {"Endpoint": endpoint, "Status": ints(response, frozenset({"version"}))}
