"""Who this pod is and where its peers are: the StatefulSet's naming rules in one place.

A StatefulSet names its pods `<sts>-<ordinal>` and gives each a stable DNS name under its
headless Service, so every member's URLs follow from an ordinal. Tests replace the DNS
names by loopback addresses through `address_map` (`host:port` -> `host:port`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_PEER_URL = "http://{pod}.{service}.{namespace}.svc:2380"
DEFAULT_CLIENT_URL = "http://{pod}.{service}.{namespace}.svc:2379"


class PodError(ValueError):
    """The pod's environment does not describe a StatefulSet member."""


@dataclass(frozen=True, slots=True)
class Pod:
    statefulset: str
    ordinal: int
    namespace: str = "default"
    service: str = "keyraft-peer"
    initial_size: int = 3  # the members of a brand-new cluster: ordinals 0..initial_size-1
    volume: Path = Path("/var/lib/keyraft")
    token: str = "keyraft-k8s"
    peer_url_template: str = DEFAULT_PEER_URL
    client_url_template: str = DEFAULT_CLIENT_URL
    listen_host: str = "0.0.0.0"
    address_map: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.pod_name(self.ordinal)

    @property
    def data_dir(self) -> Path:
        return self.volume / "data"

    @property
    def flags_file(self) -> Path:
        """The flags of this member's first start, kept on its volume for its restarts."""
        return self.volume / "k8s-start.json"

    def pod_name(self, ordinal: int) -> str:
        return f"{self.statefulset}-{ordinal}"

    def peer_url(self, ordinal: int) -> str:
        return self._url(self.peer_url_template, ordinal)

    def client_url(self, ordinal: int) -> str:
        return self._url(self.client_url_template, ordinal)

    def listen_url(self, advertised: str) -> str:
        parts = urlsplit(advertised)
        return f"{parts.scheme}://{self.listen_host}:{parts.port}"

    def ordinal_of(self, name: str, peer_urls: list[str], limit: int) -> int | None:
        """A member's ordinal, from its name or (not started yet) from its peer URL."""
        prefix = self.statefulset + "-"
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return int(name[len(prefix) :])
        for ordinal in range(limit):
            if self.peer_url(ordinal) in peer_urls:
                return ordinal
        return None

    def _url(self, template: str, ordinal: int) -> str:
        url = template.format(
            pod=self.pod_name(ordinal),
            ordinal=ordinal,
            service=self.service,
            namespace=self.namespace,
            statefulset=self.statefulset,
        )
        parts = urlsplit(url)
        mapped = self.address_map.get(parts.netloc)
        return url if mapped is None else parts._replace(netloc=mapped).geturl()


def pod_from_env(env: Mapping[str, str] = os.environ) -> Pod:
    """The pod as Kubernetes describes it: HOSTNAME is `<sts>-<ordinal>`; KEYRAFT_K8S_* tune."""
    hostname = env.get("HOSTNAME", "")
    statefulset, _, ordinal = hostname.rpartition("-")
    if not statefulset or not ordinal.isdigit():
        raise PodError(f"HOSTNAME {hostname!r} is not a StatefulSet pod name (<name>-<ordinal>)")
    try:
        address_map = json.loads(env.get("KEYRAFT_K8S_ADDRESS_MAP", "{}"))
        initial_size = int(env.get("KEYRAFT_K8S_INITIAL_SIZE", "3"))
    except ValueError as error:
        raise PodError(f"bad KEYRAFT_K8S_* setting: {error}") from None
    if initial_size < 1:
        raise PodError("KEYRAFT_K8S_INITIAL_SIZE must be at least 1")
    return Pod(
        statefulset=statefulset,
        ordinal=int(ordinal),
        namespace=env.get("POD_NAMESPACE", "default"),
        service=env.get("KEYRAFT_K8S_SERVICE", "keyraft-peer"),
        initial_size=initial_size,
        volume=Path(env.get("KEYRAFT_K8S_VOLUME", "/var/lib/keyraft")),
        token=env.get("KEYRAFT_K8S_TOKEN", "keyraft-k8s"),
        peer_url_template=env.get("KEYRAFT_K8S_PEER_URL", DEFAULT_PEER_URL),
        client_url_template=env.get("KEYRAFT_K8S_CLIENT_URL", DEFAULT_CLIENT_URL),
        listen_host=env.get("KEYRAFT_K8S_LISTEN_HOST", "0.0.0.0"),
        address_map=address_map,
    )
