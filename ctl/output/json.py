"""etcdctl's `-w json`: the response structs as Go's encoding/json writes them."""

from __future__ import annotations

from dataclasses import asdict

from keyraft.ctl.output import gojson
from keyraft.ctl.output.base import Health, Printer, Status, write


class JsonPrinter(Printer):
    name = "json"

    def _print(self, value: object) -> None:
        write(gojson.dumps(value))

    def put(self, response: dict) -> None:
        self._print(gojson.ints(response))

    def get(self, response: dict) -> None:
        self._print(gojson.ints({k: v for k, v in response.items() if not k.startswith("_")}))

    def delete(self, response: dict) -> None:
        self._print(gojson.ints(response))

    def txn(self, response: dict) -> None:
        self._print(gojson.txn(response))

    def watch(self, response: dict) -> None:
        self._print(gojson.watch(response))

    def grant(self, response: dict) -> None:
        self._print(gojson.grant(response))

    def revoke(self, lease: int, response: dict) -> None:
        self._print(gojson.ints(response))

    def keep_alive(self, response: dict) -> None:
        self._print(gojson.keep_alive(response))

    def time_to_live(self, response: dict, keys: bool) -> None:
        self._print(gojson.time_to_live(response))

    def alarm(self, response: dict) -> None:
        self._print(gojson.alarms(response))

    def snapshot_status(self, found: dict) -> None:
        self._print(
            {
                "hash": found["hash"],
                "revision": found["revision"],
                "totalKey": found["total_keys"],
                "totalSize": found["total_size"],
            }
        )

    def leases(self, response: dict) -> None:
        self._print(gojson.leases(response))

    def member_list(self, response: dict) -> None:
        self._print(gojson.ints(response))

    def member_add(self, response: dict) -> None:
        self._print(gojson.ints(response))

    def member_changed(self, verb: str, member_id: int, response: dict) -> None:
        self._print(gojson.ints(response))

    def move_leader(self, leader: int, target: int, response: dict) -> None:
        self._print(gojson.ints(response))

    def auth_change(self, message: bytes, response: dict) -> None:
        self._print(gojson.ints(response))

    def role_get(self, role: str, response: dict) -> None:
        self._print(gojson.role_get(response))

    def role_list(self, response: dict) -> None:
        self._print(gojson.ints(response))

    def user_get(self, user: str, response: dict) -> None:
        self._print(gojson.ints(response))

    def user_list(self, response: dict) -> None:
        self._print(gojson.ints(response))

    def auth_status(self, response: dict) -> None:
        self._print(gojson.ints(response))

    def endpoint_health(self, results: list[Health]) -> None:
        items = []
        for result in results:
            item = {k: v for k, v in asdict(result).items()}
            entry = {"endpoint": item["endpoint"], "health": item["healthy"], "took": item["took"]}
            if result.error:
                entry["error"] = result.error
            items.append(entry)
        self._print(items)

    def endpoint_hashkv(self, results: list[Status]) -> None:
        self._print(
            [
                {"Endpoint": result.endpoint, "HashKV": gojson.ints(result.response)}
                for result in results
            ]
        )

    def endpoint_status(self, results: list[Status]) -> None:
        self._print([gojson.status(result.endpoint, result.response) for result in results])
