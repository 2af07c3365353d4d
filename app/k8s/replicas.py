"""Where a pod learns the StatefulSet's desired replica count, which tells a scale-down
(my ordinal is past it: leave the cluster) from a restart (stay a member).

Nothing in the pod spec carries it (the downward API exposes pod fields only, and an env
var written in the manifest goes stale at the first `kubectl scale`), so the reliable
source is the API server (`api`: needs `get` on this StatefulSet). `file:PATH` and a plain
number exist for tests and for clusters without that permission; `none` (unknown) makes
the pod never remove itself, which is safe: the membership then shrinks only by hand.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx

Source = Callable[[], "int | None"]
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def replicas_source(
    spec: str, statefulset: str, namespace: str, env: Mapping[str, str] = os.environ
) -> Source:
    """`api`, `file:PATH`, a number, `none`; `auto` is `api` inside a cluster, else `none`."""
    if spec == "auto":
        spec = "api" if env.get("KUBERNETES_SERVICE_HOST") else "none"
    if spec == "none":
        return lambda: None
    if spec.isdigit():
        return lambda: int(spec)
    if spec.startswith("file:"):
        return lambda: _read_int(Path(spec[len("file:") :]))
    if spec == "api":
        return lambda: _ask_api_server(statefulset, namespace, env)
    raise ValueError(f"unknown replicas source {spec!r} (api, file:PATH, a number, none)")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _ask_api_server(statefulset: str, namespace: str, env: Mapping[str, str]) -> int | None:
    """spec.replicas of the StatefulSet; None when the API server cannot say (or it is gone)."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        return None
    url = f"https://{host}:{port}/apis/apps/v1/namespaces/{namespace}/statefulsets/{statefulset}"
    try:
        token = (SERVICE_ACCOUNT / "token").read_text().strip()
        answer = httpx.get(
            url,
            headers={"Authorization": f"Bearer {token}"},
            verify=ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt")),
            timeout=5.0,
        )
    except (OSError, ssl.SSLError, httpx.HTTPError):
        return None
    if answer.status_code != 200:
        return None  # 404: the StatefulSet is being deleted, not scaled: keep the membership
    return int(answer.json().get("spec", {}).get("replicas", 1))
