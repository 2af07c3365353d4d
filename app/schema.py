"""etcd's request messages, described once: the decoder and the OpenAPI document both
read these tables, so what we accept and what we document cannot drift apart.

Names follow etcd's own gateway description (`etcdserverpbRangeRequest`, ...) so clients
generated from either look alike. Decoding follows Go's jsonpb: proto names or lowerCamel
JSON names, unknown fields ignored, null meaning "unset", int64 as number or string, enums
by name or number, and Go's error messages for the wrong JSON type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyraft.app import errors
from keyraft.app.gojson import GoSyntaxError, decode_base64, parse_body


@dataclass(frozen=True, slots=True)
class Enum:
    go_name: str
    values: dict[str, int]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str  # bytes | int64 | uint64 | int32 | bool | string | enum | message
    description: str = ""
    repeated: bool = False
    enum: Enum | None = None
    message: str | None = None

    @property
    def json_name(self) -> str:
        head, *rest = self.name.split("_")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True, slots=True)
class Message:
    name: str
    fields: tuple[Field, ...]
    description: str = ""
    lookup: dict[str, Field] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for item in self.fields:
            self.lookup.setdefault(item.name, item)
            self.lookup.setdefault(item.json_name, item)


SORT_ORDER = Enum("etcdserverpb.RangeRequest_SortOrder", {"NONE": 0, "ASCEND": 1, "DESCEND": 2})
SORT_TARGET = Enum(
    "etcdserverpb.RangeRequest_SortTarget",
    {"KEY": 0, "VERSION": 1, "CREATE": 2, "MOD": 3, "VALUE": 4},
)
COMPARE_RESULT = Enum(
    "etcdserverpb.Compare_CompareResult",
    {"EQUAL": 0, "GREATER": 1, "LESS": 2, "NOT_EQUAL": 3},
)
COMPARE_TARGET = Enum(
    "etcdserverpb.Compare_CompareTarget",
    {"VERSION": 0, "CREATE": 1, "MOD": 2, "VALUE": 3, "LEASE": 4},
)
ALARM_ACTION = Enum(
    "etcdserverpb.AlarmRequest_AlarmAction", {"GET": 0, "ACTIVATE": 1, "DEACTIVATE": 2}
)
ALARM_TYPE = Enum("etcdserverpb.AlarmType", {"NONE": 0, "NOSPACE": 1, "CORRUPT": 2})

KEY = "the key, base64-encoded"
RANGE_END = (
    "end of the range [key, range_end), base64-encoded; omitted means the key alone, "
    "'AA==' (\\0) means every key >= key, key+1 (e.g. key 'a' -> 'b') means the prefix"
)

MESSAGES: dict[str, Message] = {}


def _message(name: str, description: str, *fields: Field) -> Message:
    message = Message(name, fields, description)
    MESSAGES[name] = message
    return message


_message(
    "etcdserverpbRangeRequest",
    "Read keys: one key, a range, or a prefix, at the latest or a past revision.",
    Field("key", "bytes", KEY),
    Field("range_end", "bytes", RANGE_END),
    Field("limit", "int64", "at most this many keys (0 = no limit); `more` says if any were cut"),
    Field("revision", "int64", "read at this revision (<= 0 = latest)"),
    Field("sort_order", "enum", "NONE, ASCEND or DESCEND", enum=SORT_ORDER),
    Field("sort_target", "enum", "KEY, VERSION, CREATE, MOD or VALUE", enum=SORT_TARGET),
    Field("serializable", "bool", "serve from the local member without a linearizable barrier"),
    Field("keys_only", "bool", "return keys without values"),
    Field("count_only", "bool", "return only the count"),
    Field("min_mod_revision", "int64", "skip keys modified before this revision"),
    Field("max_mod_revision", "int64", "skip keys modified after this revision"),
    Field("min_create_revision", "int64", "skip keys created before this revision"),
    Field("max_create_revision", "int64", "skip keys created after this revision"),
)
_message(
    "etcdserverpbPutRequest",
    "Write a key.",
    Field("key", "bytes", KEY),
    Field("value", "bytes", "the value, base64-encoded"),
    Field("lease", "int64", "attach the key to this lease (0 = none)"),
    Field("prev_kv", "bool", "return the previous key-value pair"),
    Field("ignore_value", "bool", "keep the current value (the key must exist)"),
    Field("ignore_lease", "bool", "keep the current lease (the key must exist)"),
)
_message(
    "etcdserverpbDeleteRangeRequest",
    "Delete one key, a range or a prefix.",
    Field("key", "bytes", KEY),
    Field("range_end", "bytes", RANGE_END),
    Field("prev_kv", "bool", "return the deleted key-value pairs"),
)
_message(
    "etcdserverpbCompare",
    "One condition of a transaction; the field named by `target` holds the operand.",
    Field("result", "enum", "EQUAL, GREATER, LESS or NOT_EQUAL", enum=COMPARE_RESULT),
    Field("target", "enum", "VERSION, CREATE, MOD, VALUE or LEASE", enum=COMPARE_TARGET),
    Field("key", "bytes", KEY),
    Field("version", "int64", "operand for target VERSION"),
    Field("create_revision", "int64", "operand for target CREATE"),
    Field("mod_revision", "int64", "operand for target MOD"),
    Field("value", "bytes", "operand for target VALUE, base64-encoded"),
    Field("lease", "int64", "operand for target LEASE"),
    Field("range_end", "bytes", "compare every key in [key, range_end)"),
)
_message(
    "etcdserverpbRequestOp",
    "One operation of a transaction: set exactly one field.",
    Field("request_range", "message", message="etcdserverpbRangeRequest"),
    Field("request_put", "message", message="etcdserverpbPutRequest"),
    Field("request_delete_range", "message", message="etcdserverpbDeleteRangeRequest"),
    Field("request_txn", "message", message="etcdserverpbTxnRequest"),
)
_message(
    "etcdserverpbTxnRequest",
    "If every compare holds, run `success`, else `failure`; atomically, at one revision.",
    Field("compare", "message", "conditions", repeated=True, message="etcdserverpbCompare"),
    Field("success", "message", "ops if all hold", repeated=True, message="etcdserverpbRequestOp"),
    Field("failure", "message", "ops otherwise", repeated=True, message="etcdserverpbRequestOp"),
)
_message(
    "etcdserverpbCompactionRequest",
    "Discard history before a revision.",
    Field("revision", "int64", "compact up to this revision"),
    Field("physical", "bool", "answer only once the space is reclaimed"),
)
_message("etcdserverpbStatusRequest", "Ask a member for its status.")
_message("etcdserverpbDefragmentRequest", "Defragment this member's backend.")
_message("etcdserverpbSnapshotRequest", "Stream a snapshot of this member's backend.")
_message("etcdserverpbHashRequest", "Hash this member's backend.")
_message(
    "etcdserverpbHashKVRequest",
    "Hash the key-value history up to a revision.",
    Field("revision", "int64", "up to this revision (0 = the current one)"),
)
_message(
    "etcdserverpbMemberListRequest",
    "List the cluster's members.",
    Field("linearizable", "bool", "read the member list through a linearizable barrier"),
)
_message(
    "etcdserverpbMemberAddRequest",
    "Add a member (start it afterwards with --initial-cluster-state existing).",
    Field("peerURLs", "string", "the new member's peer URLs", repeated=True),
    Field("isLearner", "bool", "add it as a learner: it replicates but does not vote"),
)
_message(
    "etcdserverpbMemberRemoveRequest",
    "Remove a member.",
    Field("ID", "uint64", "the member to remove"),
)
_message(
    "etcdserverpbMemberUpdateRequest",
    "Change a member's peer URLs.",
    Field("ID", "uint64", "the member to update"),
    Field("peerURLs", "string", "its new peer URLs", repeated=True),
)
_message(
    "etcdserverpbMemberPromoteRequest",
    "Promote a learner that has caught up with the leader to a voting member.",
    Field("ID", "uint64", "the learner to promote"),
)
_message(
    "etcdserverpbMoveLeaderRequest",
    "Hand leadership to another voting member (send it to the leader).",
    Field("targetID", "uint64", "the member to lead"),
)
_message(
    "etcdserverpbAlarmRequest",
    "List, raise or clear alarms.",
    Field("action", "enum", "GET, ACTIVATE or DEACTIVATE", enum=ALARM_ACTION),
    Field("memberID", "uint64", "the member the alarm concerns (0 = all)"),
    Field("alarm", "enum", "NONE, NOSPACE or CORRUPT", enum=ALARM_TYPE),
)
_message(
    "etcdserverpbLeaseGrantRequest",
    "Create a lease; keys attached to it are deleted when it expires or is revoked.",
    Field("TTL", "int64", "time to live in seconds (raised to the minimum, 1.5 election timeouts)"),
    Field("ID", "int64", "the lease ID to use (0 = let the server choose)"),
)
_message(
    "etcdserverpbLeaseRevokeRequest",
    "Revoke a lease, deleting every key attached to it in one revision.",
    Field("ID", "int64", "the lease to revoke"),
)
_message(
    "etcdserverpbLeaseKeepAliveRequest",
    "Renew a lease for another full TTL; the keepalive body is a stream of these.",
    Field("ID", "int64", "the lease to keep alive"),
)
_message(
    "etcdserverpbLeaseTimeToLiveRequest",
    "How long a lease has left.",
    Field("ID", "int64", "the lease to ask about"),
    Field("keys", "bool", "also list the keys attached to the lease"),
)
_message("etcdserverpbLeaseLeasesRequest", "List every lease.")

PERMISSION_TYPE = Enum("authpb.Permission_Type", {"READ": 0, "WRITE": 1, "READWRITE": 2})
USER = "the user's name"
ROLE = "the role's name"

_message("etcdserverpbAuthEnableRequest", "Enable authentication (root needs the root role).")
_message("etcdserverpbAuthDisableRequest", "Disable authentication.")
_message("etcdserverpbAuthStatusRequest", "Ask whether authentication is enabled.")
_message(
    "etcdserverpbAuthenticateRequest",
    "Trade a user name and password for a token (send it in the Authorization header).",
    Field("name", "string", USER),
    Field("password", "string", "the user's password"),
)
_message(
    "authpbUserAddOptions",
    "How a user is created.",
    Field("no_password", "bool", "a user that cannot authenticate with a password"),
)
_message(
    "etcdserverpbAuthUserAddRequest",
    "Add a user.",
    Field("name", "string", USER),
    Field("password", "string", "the password (only its bcrypt hash is kept)"),
    Field("options", "message", message="authpbUserAddOptions"),
)
_message("etcdserverpbAuthUserGetRequest", "A user's roles.", Field("name", "string", USER))
_message("etcdserverpbAuthUserListRequest", "List the users.")
_message("etcdserverpbAuthUserDeleteRequest", "Delete a user.", Field("name", "string", USER))
_message(
    "etcdserverpbAuthUserChangePasswordRequest",
    "Change a user's password (its tokens stop working).",
    Field("name", "string", USER),
    Field("password", "string", "the new password"),
)
_message(
    "etcdserverpbAuthUserGrantRoleRequest",
    "Grant a role to a user.",
    Field("user", "string", USER),
    Field("role", "string", ROLE),
)
_message(
    "etcdserverpbAuthUserRevokeRoleRequest",
    "Revoke a role from a user.",
    Field("name", "string", USER),
    Field("role", "string", ROLE),
)
_message("etcdserverpbAuthRoleAddRequest", "Add a role.", Field("name", "string", ROLE))
_message("etcdserverpbAuthRoleGetRequest", "A role's permissions.", Field("role", "string", ROLE))
_message("etcdserverpbAuthRoleListRequest", "List the roles.")
_message("etcdserverpbAuthRoleDeleteRequest", "Delete a role.", Field("role", "string", ROLE))
_message(
    "authpbPermission",
    "Permission to read, write or both on one key, a range, or every key from `key` on.",
    Field("permType", "enum", "READ, WRITE or READWRITE", enum=PERMISSION_TYPE),
    Field("key", "bytes", KEY),
    Field("range_end", "bytes", RANGE_END),
)
_message(
    "etcdserverpbAuthRoleGrantPermissionRequest",
    "Grant a permission to a role (the same key and range end again replaces its type).",
    Field("name", "string", ROLE),
    Field("perm", "message", message="authpbPermission"),
)
_message(
    "etcdserverpbAuthRoleRevokePermissionRequest",
    "Revoke the permission with exactly this key and range end from a role.",
    Field("role", "string", ROLE),
    Field("key", "bytes", KEY),
    Field("range_end", "bytes", RANGE_END),
)

FILTER_TYPE = Enum("etcdserverpb.WatchCreateRequest_FilterType", {"NOPUT": 0, "NODELETE": 1})

_message(
    "etcdserverpbWatchCreateRequest",
    "Start watching a key or range.",
    Field("key", "bytes", KEY),
    Field("range_end", "bytes", RANGE_END),
    Field("start_revision", "int64", "first revision to report (0 = the next one)"),
    Field("progress_notify", "bool", "send empty progress messages when idle"),
    Field("filters", "enum", "NOPUT and/or NODELETE", repeated=True, enum=FILTER_TYPE),
    Field("prev_kv", "bool", "include the previous key-value pair in events"),
    Field("watch_id", "int64", "the watch's id on this stream (0 = assign one)"),
    Field("fragment", "bool", "split large responses"),
)
_message(
    "etcdserverpbWatchCancelRequest",
    "Stop a watch of this stream.",
    Field("watch_id", "int64", "the watch to cancel"),
)
_message("etcdserverpbWatchProgressRequest", "Ask for a progress message.")
_message(
    "etcdserverpbWatchRequest",
    "One message of a watch stream: set exactly one field.",
    Field("create_request", "message", message="etcdserverpbWatchCreateRequest"),
    Field("cancel_request", "message", message="etcdserverpbWatchCancelRequest"),
    Field("progress_request", "message", message="etcdserverpbWatchProgressRequest"),
)

LOCK_NAME = "the lock's name, base64; its keys are name + '/' + lease ID in hex"
ELECTION_NAME = "the election's name, base64; its keys are name + '/' + lease ID in hex"
LEASE = "the lease the key lives with; 0: the server grants a 60 s lease nobody keeps alive"
LEADER = "the leader key a campaign answered with"

_message(
    "v3lockpbLockRequest",
    "Wait for a lock, then own it while the answered key exists.",
    Field("name", "bytes", LOCK_NAME),
    Field("lease", "int64", LEASE),
)
_message(
    "v3lockpbUnlockRequest",
    "Release a lock.",
    Field("key", "bytes", "the ownership key Lock answered with"),
)
_message(
    "v3electionpbCampaignRequest",
    "Wait to lead an election.",
    Field("name", "bytes", ELECTION_NAME),
    Field("lease", "int64", LEASE),
    Field("value", "bytes", "the candidate's value, base64"),
)
_message(
    "v3electionpbLeaderKey",
    "Names a leader: its key, valid while the key keeps this create revision.",
    Field("name", "bytes", ELECTION_NAME),
    Field("key", "bytes", "the leader's key, base64"),
    Field("rev", "int64", "the key's create revision"),
    Field("lease", "int64", "the leader's lease"),
)
_message(
    "v3electionpbProclaimRequest",
    "The leader announces a new value.",
    Field("leader", "message", LEADER, message="v3electionpbLeaderKey"),
    Field("value", "bytes", "the new value, base64"),
)
_message(
    "v3electionpbLeaderRequest",
    "Ask for (or follow) an election's leader.",
    Field("name", "bytes", ELECTION_NAME),
)
_message(
    "v3electionpbResignRequest",
    "The leader steps down.",
    Field("leader", "message", LEADER, message="v3electionpbLeaderKey"),
)

_GO_TYPE = {
    "bytes": "[]uint8",
    "int64": "int64",
    "uint64": "uint64",
    "int32": "int32",
    "bool": "bool",
    "string": "string",
}
_INT_RANGE = {
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
    "int32": (-(2**31), 2**31 - 1),
}


def _json_kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _mismatch(value: object, go_type: str) -> errors.EtcdError:
    kind = _json_kind(value)
    if kind == "number":
        return errors.invalid(
            f"json: cannot unmarshal number {_go_number(value)} into Go value of type {go_type}"
        )
    return errors.invalid(f"json: cannot unmarshal {kind} into Go value of type {go_type}")


def _go_number(value: object) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value)) if abs(value) < 1e20 else f"{value:g}".replace("+", "")
    return str(value)


def _integer(value: object, kind: str) -> int:
    low, high = _INT_RANGE[kind]
    if isinstance(value, str):
        # jsonpb unquotes and parses the string's content as a JSON number.
        try:
            inner = parse_body(value.encode(), strict=True)
        except GoSyntaxError as error:
            raise errors.invalid(str(error)) from None
        if value.strip() == "":
            raise errors.invalid("unexpected end of JSON input")
        value = inner
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, bool | str | list | dict):
            raise _mismatch_plain(value, kind)
        raise _mismatch_plain(value, kind)
    if isinstance(value, float) or not low <= value <= high:
        raise errors.invalid(
            f"json: cannot unmarshal number {_go_number(value)} into Go value of type {kind}"
        )
    return value


def _mismatch_plain(value: object, go_type: str) -> errors.EtcdError:
    return errors.invalid(
        f"json: cannot unmarshal {_json_kind(value)} into Go value of type {go_type}"
    )


def _bytes(value: object) -> bytes:
    if isinstance(value, str):
        try:
            return decode_base64(value)
        except ValueError as error:
            raise errors.invalid(str(error)) from None
    if isinstance(value, list):
        out = bytearray()
        for item in value:
            if isinstance(item, bool) or not isinstance(item, int):
                if isinstance(item, float):
                    raise _mismatch(item, "uint8")
                raise _mismatch_plain(item, "uint8")
            if not 0 <= item <= 255:
                raise _mismatch(item, "uint8")
            out.append(item)
        return bytes(out)
    raise _mismatch_plain(value, "[]uint8")


def _enum(value: object, enum: Enum) -> int:
    if isinstance(value, str):
        if value in enum.values:
            return enum.values[value]
        raise errors.invalid(f'unknown value "{value}" for enum {enum.go_name}')
    if isinstance(value, int) and not isinstance(value, bool):
        return _integer(value, "int32")
    if isinstance(value, float):
        raise _mismatch(value, enum.go_name)
    raise _mismatch_plain(value, enum.go_name)


def _scalar(item: Field, value: object) -> object:
    kind = item.kind
    if kind == "bytes":
        return _bytes(value)
    if kind in _INT_RANGE:
        return _integer(value, kind)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise _mismatch_plain(value, "bool")
    if kind == "enum":
        assert item.enum is not None
        return _enum(value, item.enum)
    if kind == "string":
        if isinstance(value, str):
            return value
        raise _mismatch_plain(value, "string")
    assert item.message is not None
    return decode_message(item.message, value)


def decode_message(name: str, value: object) -> dict:
    """Turn decoded JSON into a dict of the message's set fields, keyed by proto name."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _mismatch_plain(value, "map[string]json.RawMessage")
    message = MESSAGES[name]
    result: dict = {}
    for key, raw in value.items():
        item = message.lookup.get(key)
        if item is None or raw is None:
            continue
        if item.repeated:
            if not isinstance(raw, list):
                raise _mismatch_plain(raw, "[]json.RawMessage")
            result[item.name] = [_scalar(item, element) for element in raw]
        else:
            result[item.name] = _scalar(item, raw)
    return result


def decode_request(name: str, body: bytes) -> dict:
    """Parse and decode a request body, raising etcd's InvalidArgument errors."""
    try:
        parsed = parse_body(body)
    except GoSyntaxError as error:
        raise errors.invalid(str(error)) from None
    return decode_message(name, parsed)
