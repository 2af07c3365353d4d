"""etcdctl's `-w fields`: one `"Name" : value` line per field, strings in Go's `%q`."""

from __future__ import annotations

from keyraft.ctl.client import unb64
from keyraft.ctl.gofmt import quote
from keyraft.ctl.output.base import (
    PERMISSION_TYPES,
    Health,
    Printer,
    Status,
    number,
    permission_type,
    write,
)


def _bool(value: object) -> str:
    return "true" if value else "false"


class FieldsPrinter(Printer):
    name = "fields"

    def header(self, response: dict) -> None:
        header = response.get("header", {})
        write(f'"ClusterID" : {number(header.get("cluster_id"))}')
        write(f'"MemberID" : {number(header.get("member_id"))}')
        write(f'"Revision" : {number(header.get("revision"))}')
        write(f'"RaftTerm" : {number(header.get("raft_term"))}')

    def kv(self, prefix: str, kv: dict) -> None:
        write(f'"{prefix}Key" : {quote(unb64(kv.get("key")))}')
        write(f'"{prefix}CreateRevision" : {number(kv.get("create_revision"))}')
        write(f'"{prefix}ModRevision" : {number(kv.get("mod_revision"))}')
        write(f'"{prefix}Version" : {number(kv.get("version"))}')
        write(f'"{prefix}Value" : {quote(unb64(kv.get("value")))}')
        write(f'"{prefix}Lease" : {number(kv.get("lease"))}')

    def endpoint_hashkv(self, results: list[Status]) -> None:
        for result in results:
            self.header(result.response)
            write(f'"Endpoint" : {quote(result.endpoint)}')
            write(f'"Hash" : {number(result.response.get("hash"))}')
            write()

    def snapshot_status(self, found: dict) -> None:
        write(f'"Hash" : {found["hash"]}')
        write(f'"Revision" : {found["revision"]}')
        write(f'"Keys" : {found["total_keys"]}')
        write(f'"Size" : {found["total_size"]}')

    def put(self, response: dict) -> None:
        self.header(response)
        if "prev_kv" in response:
            self.kv("Prev", response["prev_kv"])

    def get(self, response: dict) -> None:
        self.header(response)
        for kv in response.get("kvs", []):
            self.kv("", kv)
        write(f'"More" : {_bool(response.get("more"))}')
        write(f'"Count" : {number(response.get("count"))}')

    def delete(self, response: dict) -> None:
        self.header(response)
        write(f'"Deleted" : {number(response.get("deleted"))}')
        for kv in response.get("prev_kvs", []):
            self.kv("Prev", kv)

    def txn(self, response: dict) -> None:
        self.header(response)
        write(f'"Succeeded" : {_bool(response.get("succeeded"))}')
        for op in response.get("responses", []):
            for kind, body in op.items():
                {
                    "response_put": self.put,
                    "response_range": self.get,
                    "response_delete_range": self.delete,
                }[kind](body)

    def watch(self, response: dict) -> None:
        self.header(response)
        for event in response.get("events", []):
            write(f'"Type" : {event.get("type", "PUT")}')
            if "prev_kv" in event:
                self.kv("Prev", event["prev_kv"])
            self.kv("", event.get("kv", {}))

    def _id_ttl(self, response: dict) -> None:
        write(f'"ID" : {number(response.get("ID"))}')
        write(f'"TTL" : {number(response.get("TTL"))}')

    def grant(self, response: dict) -> None:
        self.header(response)
        self._id_ttl(response)

    def revoke(self, lease: int, response: dict) -> None:
        self.header(response)

    def keep_alive(self, response: dict) -> None:
        self.header(response)
        self._id_ttl(response)

    def time_to_live(self, response: dict, keys: bool) -> None:
        self.header(response)
        self._id_ttl(response)
        write(f'"GrantedTTL" : {number(response.get("grantedTTL"))}')
        for key in response.get("keys", []):
            write(f'"Key" : {quote(unb64(key))}')

    def leases(self, response: dict) -> None:
        self.header(response)
        for item in response.get("leases", []):
            write(f'"ID" : {number(item.get("ID"))}')

    def member_list(self, response: dict) -> None:
        self.header(response)
        for member in response.get("members", []):
            write(f'"ID" : {number(member.get("ID"))}')
            write(f'"Name" : {quote(member.get("name", ""))}')
            for url in member.get("peerURLs", []):
                write(f'"PeerURL" : {quote(url)}')
            for url in member.get("clientURLs", []):
                write(f'"ClientURL" : {quote(url)}')
            write(f'"IsLearner" : {_bool(member.get("isLearner"))}')
            write("")

    def auth_change(self, message: bytes, response: dict) -> None:
        self.header(response)

    def role_get(self, role: str, response: dict) -> None:
        self.header(response)
        for permission in response.get("perm", []):
            # Go's Println puts a space between its operands: two spaces after the colon.
            write(f'"PermType" :  {PERMISSION_TYPES[permission_type(permission)]}')
            write(f'"Key" : {quote(unb64(permission.get("key")))}')
            write(f'"RangeEnd" : {quote(unb64(permission.get("range_end")))}')

    def role_list(self, response: dict) -> None:
        self.header(response)
        roles = "".join(f" {quote(role.encode())}" for role in response.get("roles", []))
        write(f'"Roles" :{roles}')

    def endpoint_health(self, results: list[Health]) -> None:
        for result in results:
            write(f'"Endpoint" : {quote(result.endpoint)}')
            write(f'"Health" : {_bool(result.healthy)}')
            write(f'"Took" : {result.took}')
            write(f'"Error" : {result.error}')
            write("")

    def endpoint_status(self, results: list[Status]) -> None:
        for result in results:
            response = result.response
            self.header(response)
            write(f'"Version" : {quote(response.get("version", ""))}')
            write(f'"DBSize" : {number(response.get("dbSize"))}')
            write(f'"Leader" : {number(response.get("leader"))}')
            write(f'"IsLearner" : {_bool(response.get("isLearner"))}')
            write(f'"RaftIndex" : {number(response.get("raftIndex"))}')
            write(f'"RaftTerm" : {number(response.get("raftTerm"))}')
            write(f'"RaftAppliedIndex" : {number(response.get("raftAppliedIndex"))}')
            write(f'"Errors" : [{" ".join(response.get("errors", []))}]')
            write(f'"Endpoint" : {quote(result.endpoint)}')
            write("")
