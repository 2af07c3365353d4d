"""Rows shared by the `simple` and `table` formats, built as etcdctl builds them."""

from __future__ import annotations

from keyraft.ctl.gofmt import humanize_bytes
from keyraft.ctl.output.base import Status, hex_id, number

MEMBER_HEADER = ["ID", "STATUS", "NAME", "PEER ADDRS", "CLIENT ADDRS", "IS LEARNER"]
STATUS_HEADER = [
    "ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER",
    "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS",
]  # fmt: skip
SNAPSHOT_HEADER = ["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"]


def _bool(value: object) -> str:
    return "true" if value else "false"


def member_rows(response: dict) -> list[list[str]]:
    rows = []
    for member in response.get("members", []):
        rows.append(
            [
                hex_id(member.get("ID")),
                "started" if member.get("name") else "unstarted",
                member.get("name", ""),
                ",".join(member.get("peerURLs", [])),
                ",".join(member.get("clientURLs", [])),
                _bool(member.get("isLearner")),
            ]
        )
    return rows


def endpoint_status_rows(results: list[Status]) -> list[list[str]]:
    rows = []
    for result in results:
        response = result.response
        member = response.get("header", {}).get("member_id")
        rows.append(
            [
                result.endpoint,
                hex_id(member),
                response.get("version", ""),
                humanize_bytes(number(response.get("dbSize"))),
                _bool(number(response.get("leader")) == number(member)),
                _bool(response.get("isLearner")),
                str(number(response.get("raftTerm"))),
                str(number(response.get("raftIndex"))),
                str(number(response.get("raftAppliedIndex"))),
                ", ".join(response.get("errors", [])),
            ]
        )
    return rows


def snapshot_row(found: dict) -> list[str]:
    """`snapshot status`: hash in hex, revision, keys, size as go-humanize writes it."""
    return [
        f"{found['hash']:x}",
        str(found["revision"]),
        str(found["total_keys"]),
        humanize_bytes(found["total_size"]),
    ]
