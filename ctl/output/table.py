"""`-w table`: a real table drawn by rich, for every command (etcdctl 3.4 only has it for
member list and endpoint commands, with the same columns as here)."""

from __future__ import annotations

import sys

from rich import box
from rich.console import Console
from rich.table import Table

from keyraft.ctl.client import unb64
from keyraft.ctl.output.base import Health, Printer, Status, lease_id, number
from keyraft.ctl.output.tables import (
    MEMBER_HEADER,
    SNAPSHOT_HEADER,
    STATUS_HEADER,
    endpoint_status_rows,
    member_rows,
    snapshot_row,
)

KV_HEADER = ["KEY", "VALUE", "CREATE REVISION", "MOD REVISION", "VERSION", "LEASE"]


def _render(header: list[str], rows: list[list[str]], title: str | None = None) -> None:
    table = Table(*header, box=box.ASCII, title=title, show_lines=False, header_style="bold")
    for row in rows:
        table.add_row(*row)
    console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 10_000)
    console.print(table, crop=False, overflow="ignore", markup=False, highlight=False)


class TablePrinter(Printer):
    name = "table"

    def __init__(self, hex_output: bool = False) -> None:
        self.hex_output = hex_output

    def _text(self, data: str | None) -> str:
        raw = unb64(data)
        if self.hex_output:
            return "".join(f"\\x{byte:02x}" for byte in raw)
        return raw.decode("utf-8", errors="backslashreplace")

    def _kv_row(self, kv: dict) -> list[str]:
        return [
            self._text(kv.get("key")),
            self._text(kv.get("value")),
            str(number(kv.get("create_revision"))),
            str(number(kv.get("mod_revision"))),
            str(number(kv.get("version"))),
            lease_id(kv.get("lease")) if kv.get("lease") else "",
        ]

    def put(self, response: dict) -> None:
        rows = [self._kv_row(response["prev_kv"])] if "prev_kv" in response else []
        revision = number(response.get("header", {}).get("revision"))
        _render(["PREV " + name for name in KV_HEADER], rows, title=f"OK (revision {revision})")

    def get(self, response: dict) -> None:
        _render(KV_HEADER, [self._kv_row(kv) for kv in response.get("kvs", [])])

    def delete(self, response: dict) -> None:
        rows = [self._kv_row(kv) for kv in response.get("prev_kvs", [])]
        title = f"{number(response.get('deleted'))} deleted"
        _render(["PREV " + name for name in KV_HEADER], rows, title=title)

    def txn(self, response: dict) -> None:
        rows = []
        for index, op in enumerate(response.get("responses", []), start=1):
            for kind, body in op.items():
                operation = kind.removeprefix("response_").replace("_range", "").upper()
                kvs = body.get("kvs") or body.get("prev_kvs") or [body.get("prev_kv")]
                for kv in filter(None, kvs):
                    rows.append([str(index), operation, *self._kv_row(kv)])
                if not any(kvs):
                    rows.append([str(index), operation, *[""] * len(KV_HEADER)])
        title = "SUCCESS" if response.get("succeeded") else "FAILURE"
        _render(["OP", "TYPE", *KV_HEADER], rows, title=title)

    def watch(self, response: dict) -> None:
        rows = [
            [event.get("type", "PUT"), *self._kv_row(event.get("kv", {}))]
            for event in response.get("events", [])
        ]
        _render(["EVENT", *KV_HEADER], rows)

    def grant(self, response: dict) -> None:
        _render(["ID", "TTL"], [[lease_id(response.get("ID")), str(number(response.get("TTL")))]])

    def revoke(self, lease: int, response: dict) -> None:
        _render(["ID", "STATUS"], [[lease_id(lease), "revoked"]])

    def keep_alive(self, response: dict) -> None:
        _render(["ID", "TTL"], [[lease_id(response.get("ID")), str(number(response.get("TTL")))]])

    def time_to_live(self, response: dict, keys: bool) -> None:
        row = [
            lease_id(response.get("ID")),
            str(number(response.get("grantedTTL"))),
            str(number(response.get("TTL"))),
        ]
        header = ["ID", "GRANTED TTL", "REMAINING TTL"]
        if keys:
            header.append("KEYS")
            row.append(", ".join(self._text(key) for key in response.get("keys", [])))
        _render(header, [row])

    def leases(self, response: dict) -> None:
        _render(["ID"], [[lease_id(item.get("ID"))] for item in response.get("leases", [])])

    def member_list(self, response: dict) -> None:
        _render(MEMBER_HEADER, member_rows(response))

    def endpoint_health(self, results: list[Health]) -> None:
        rows = [
            [result.endpoint, "true" if result.healthy else "false", result.took, result.error]
            for result in results
        ]
        _render(["ENDPOINT", "HEALTH", "TOOK", "ERROR"], rows)

    def snapshot_status(self, found: dict) -> None:
        _render(SNAPSHOT_HEADER, [snapshot_row(found)])

    def endpoint_hashkv(self, results: list[Status]) -> None:
        rows = [[result.endpoint, str(number(result.response.get("hash")))] for result in results]
        _render(["ENDPOINT", "HASH"], rows)

    def endpoint_status(self, results: list[Status]) -> None:
        _render(STATUS_HEADER, endpoint_status_rows(results))
