"""The running members, through etcd's v3 JSON gateway only (keyraft mirrors it).

POST /v3/cluster/member/list|add|remove|promote and GET /health, with httpx; IDs travel as
JSON strings as the gateway writes them. Errors keep etcd's message, since the caller's
retry loop decides what they mean ("too many learner members in cluster": try again).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from keyraft.app.k8s.plan import Member, View


class MemberError(RuntimeError):
    """A member answered a membership call with an error (etcd's message kept)."""


class Members:
    """Membership calls against the first of `endpoints` (client URLs) that can serve them."""

    def __init__(self, endpoints: Sequence[str], timeout: float = 2.0) -> None:
        self.endpoints = list(endpoints)
        self.client = httpx.Client(timeout=timeout)
        self.healthy: list[str] = []

    def close(self) -> None:
        self.client.close()

    def view(self) -> View:
        """Ask every endpoint: who answers, who has a leader, and the list of a healthy one."""
        reachable, lists = False, []
        self.healthy = []
        for endpoint in self.endpoints:
            try:
                health = self.client.get(endpoint + "/health")
                listed = self._post(endpoint, "list", {})
                has_leader = health.status_code == 200 and health.json().get("health") == "true"
            except (httpx.HTTPError, MemberError, ValueError):
                continue
            reachable = True
            if has_leader:
                self.healthy.append(endpoint)
                lists.insert(0, listed)
            else:
                lists.append(listed)
        members = tuple(Member.from_json(m) for m in lists[0].get("members", ())) if lists else ()
        return View(reachable, bool(self.healthy), members)

    def add_learner(self, peer_url: str) -> Member:
        answer = self._call("add", {"peerURLs": [peer_url], "isLearner": True})
        return Member.from_json(answer["member"])

    def remove(self, member_id: int) -> None:
        try:
            self._call("remove", {"ID": str(member_id)})
        except MemberError as error:
            if "member not found" not in str(error):
                raise

    def promote(self, member_id: int) -> bool:
        """True once the member votes; False while the learner is still catching up."""
        try:
            self._call("promote", {"ID": str(member_id)})
        except MemberError as error:
            message = str(error)
            if "in sync with leader" in message:
                return False
            if "can only promote a learner member" in message or "member not found" in message:
                return True  # already a voter, or gone: nothing left to promote
            raise
        return True

    def _call(self, verb: str, body: dict) -> dict:
        """The first healthy endpoint that answers; a member's refusal is final."""
        last = "no member to ask"
        for endpoint in self.healthy or self.endpoints:
            try:
                return self._post(endpoint, verb, body)
            except (httpx.HTTPError, ValueError) as error:
                last = f"{endpoint}: {error!r}"
        raise MemberError(last)

    def _post(self, endpoint: str, verb: str, body: dict) -> dict:
        answer = self.client.post(f"{endpoint}/v3/cluster/member/{verb}", json=body)
        if answer.status_code != 200:
            try:
                message = answer.json().get("message", answer.text)
            except ValueError:
                message = answer.text
            raise MemberError(message.strip())
        return answer.json()
