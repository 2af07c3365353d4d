"""etcdctl's default `simple` format: raw keys and values, one per line."""

from __future__ import annotations

import sys

from keyraft.app.keys import prefix_end
from keyraft.ctl.client import unb64
from keyraft.ctl.output.base import (
    Health,
    Printer,
    Status,
    hex_id,
    lease_id,
    number,
    permission_type,
    write,
)
from keyraft.ctl.output.tables import endpoint_status_rows, member_rows, snapshot_row

READ, WRITE, READWRITE = 0, 1, 2  # authpb.Permission_Type


class SimplePrinter(Printer):
    name = "simple"

    def __init__(self, hex_output: bool = False, value_only: bool = False) -> None:
        self.hex_output = hex_output
        self.value_only = value_only

    def _bytes(self, text: str | None) -> bytes:
        raw = unb64(text)
        if self.hex_output:
            return "".join(f"\\x{byte:02x}" for byte in raw).encode()
        return raw

    def kv(self, kv: dict) -> None:
        if not self.value_only:
            write(self._bytes(kv.get("key")))
        write(self._bytes(kv.get("value")))

    def put(self, response: dict) -> None:
        write("OK")
        if "prev_kv" in response:
            self.kv(response["prev_kv"])

    def get(self, response: dict) -> None:
        for kv in response.get("kvs", []):
            self.kv(kv)
        if response.get("_count_only"):
            write(str(number(response.get("count"))))

    def delete(self, response: dict) -> None:
        write(str(number(response.get("deleted"))))
        for kv in response.get("prev_kvs", []):
            self.kv(kv)

    def txn(self, response: dict) -> None:
        write("SUCCESS" if response.get("succeeded") else "FAILURE")
        for op in response.get("responses", []):
            write("")
            for kind, body in op.items():
                {
                    "response_put": self.put,
                    "response_range": self.get,
                    "response_delete_range": self.delete,
                }[kind](body)

    def watch(self, response: dict) -> None:
        for event in response.get("events", []):
            write(event.get("type", "PUT"))
            if "prev_kv" in event:
                self.kv(event["prev_kv"])
            self.kv(event.get("kv", {}))

    def grant(self, response: dict) -> None:
        write(
            f"lease {lease_id(response.get('ID'))} granted with TTL({number(response.get('TTL'))}s)"
        )

    def revoke(self, lease: int, response: dict) -> None:
        write(f"lease {lease_id(lease)} revoked")

    def keep_alive(self, response: dict) -> None:
        write(
            f"lease {lease_id(response.get('ID'))} keepalived with TTL({number(response.get('TTL'))})"
        )

    def time_to_live(self, response: dict, keys: bool) -> None:
        ident = lease_id(response.get("ID"))
        granted, ttl = number(response.get("grantedTTL")), number(response.get("TTL"))
        if granted == 0 and ttl == -1:
            write(f"lease {ident} already expired")
            return
        text = f"lease {ident} granted with TTL({granted}s), remaining({ttl}s)"
        if keys:
            names = b" ".join(unb64(key) for key in response.get("keys", []))
            text_bytes = text.encode() + b", attached keys([" + names + b"])"
            write(text_bytes)
            return
        write(text)

    def alarm(self, response: dict) -> None:
        """Go's `%+v` of each AlarmMember: proto text, zero fields left out, a space after."""
        for raised in response.get("alarms", []):
            member = number(raised.get("memberID"))
            text = f"memberID:{member} " if member else ""
            kind = raised.get("alarm", "NONE")
            write(text + (f"alarm:{kind} " if kind != "NONE" else ""))

    def endpoint_hashkv(self, results: list[Status]) -> None:
        for result in results:
            write(f"{result.endpoint}, {number(result.response.get('hash'))}")

    def snapshot_status(self, found: dict) -> None:
        write(", ".join(snapshot_row(found)))

    def leases(self, response: dict) -> None:
        items = response.get("leases", [])
        write(f"found {len(items)} leases")
        for item in items:
            write(lease_id(item.get("ID")))

    def member_list(self, response: dict) -> None:
        for row in member_rows(response):
            write(", ".join(row))

    def member_add(self, response: dict) -> None:
        member_id = number(response["member"]["ID"])
        cluster = number(response["header"]["cluster_id"])
        write(f"Member {member_id:16x} added to cluster {cluster:16x}")

    def member_changed(self, verb: str, member_id: int, response: dict) -> None:
        cluster = number(response["header"]["cluster_id"])
        write(f"Member {member_id:16x} {verb} cluster {cluster:16x}")

    def move_leader(self, leader: int, target: int, response: dict) -> None:
        write(f"Leadership transferred from {leader:x} to {target:x}")

    def endpoint_health(self, results: list[Health]) -> None:
        for result in results:
            if result.healthy:
                line = f"{result.endpoint} is healthy: successfully committed proposal: took = {result.took}"
            else:
                line = f"{result.endpoint} is unhealthy: failed to commit proposal: {result.error}"
            print(line, file=sys.stderr, flush=True)

    def endpoint_status(self, results: list[Status]) -> None:
        for row in endpoint_status_rows(results):
            write(", ".join(row))

    def auth_change(self, message: bytes, response: dict) -> None:
        write(message)

    def role_get(self, role: str, response: dict) -> None:
        write(f"Role {role}")
        permissions = response.get("perm", [])
        for title, kinds in (("KV Read:", (READ, READWRITE)), ("KV Write:", (WRITE, READWRITE))):
            write(title)
            for permission in permissions:
                if permission_type(permission) in kinds:
                    write(b"\t" + permission_range(permission))

    def role_list(self, response: dict) -> None:
        for role in response.get("roles", []):
            write(role)

    def user_get(self, user: str, response: dict) -> None:
        write(f"User: {user}")
        write("Roles:" + "".join(f" {role}" for role in response.get("roles", [])))

    def user_list(self, response: dict) -> None:
        for user in response.get("users", []):
            write(user)

    def auth_status(self, response: dict) -> None:
        write(f"Authentication Status: {'true' if response.get('enabled') else 'false'}")
        write(f"AuthRevision: {number(response.get('authRevision'))}")


def key_range_text(key: bytes, end: bytes) -> bytes:
    """etcdctl's `[key, end)`, `[key, <open ended>` for --from-key."""
    return b"[" + key + b", " + (end + b")" if end != b"\x00" else b"<open ended>")


def permission_range(permission: dict) -> bytes:
    """One line of `role get`: the key alone, or its range, with `(prefix key)` when it is one."""
    key, end = unb64(permission.get("key")), unb64(permission.get("range_end"))
    if not end:
        return key
    text = key_range_text(key, end)
    return text + b" (prefix " + key + b")" if prefix_end(key) == end else text


__all__ = ["SimplePrinter", "hex_id"]
