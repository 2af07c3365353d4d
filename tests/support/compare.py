"""Send the same requests to real etcd and to keyraft and compare what comes back."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import httpx

from tests.support.servers import Member

IGNORED_FIELDS = frozenset({"cluster_id", "member_id", "raft_term"})


def b64(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return base64.b64encode(data).decode()


def normalize(value: object) -> object:
    """Drop the fields that legitimately differ between two clusters."""
    if isinstance(value, dict):
        return {key: normalize(item) for key, item in value.items() if key not in IGNORED_FIELDS}
    if isinstance(value, list):
        return [normalize(item) for item in value]
    return value


@dataclass
class Answer:
    status: int
    body: object
    content_type: str

    @classmethod
    def of(cls, response: httpx.Response) -> Answer:
        content_type = response.headers.get("content-type", "")
        try:
            body: object = normalize(json.loads(response.content))
        except ValueError:
            body = response.text
        return cls(response.status_code, body, content_type)


def _short(value: object, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class Pair:
    """A real etcd and a keyraft that have seen exactly the same requests."""

    def __init__(self, etcd: Member, keyraft: Member) -> None:
        self.etcd = etcd
        self.keyraft = keyraft
        self.client = httpx.Client(timeout=20.0)
        self.diverged = False
        self.topology = "single"

    def send(self, member: Member, path: str, body: object, method: str = "POST") -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.request(method, member.client_url + path, content=content)

    def both(self, path: str, body: object = b"{}", method: str = "POST") -> tuple[Answer, Answer]:
        expected = Answer.of(self.send(self.etcd, path, body, method))
        actual = Answer.of(self.send(self.keyraft, path, body, method))
        return expected, actual

    def same(self, path: str, body: object = b"{}", method: str = "POST") -> object:
        """Assert keyraft answers as etcd does (status, body, content type); return it."""
        expected, actual = self.both(path, body, method)
        if (expected.status, expected.body) != (actual.status, actual.body) or (
            expected.content_type.split(";")[0] != actual.content_type.split(";")[0]
        ):
            self.diverged = True
            raise AssertionError(
                f"{method} {path} {_short(body)}\n etcd:    {_short(expected)}\n"
                f" keyraft: {_short(actual)}"
            )
        return expected.body

    def close(self) -> None:
        self.client.close()
