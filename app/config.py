"""Server configuration: validation of etcd's flags (the settings themselves live in
`keyraft.app.server.config`, which the server reads)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from keyraft.app.server.auth.passwords import MAX_COST, MIN_COST
from keyraft.app.server.auth.tokens import BadTokenOption, parse_auth_token
from keyraft.app.server.compactor import BadRetention, parse_retention
from keyraft.app.server.config import (
    API_VERSION,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_QUOTA_BACKEND_BYTES,
    ETCD_SERVER_VERSION,
    GRPC_OVERHEAD_BYTES,
    KEYRAFT_VERSION,
    ConfigError,
    ServerConfig,
    check_url,
)
from keyraft.app.server.tls import check_tls_flags

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_QUOTA_BACKEND_BYTES",
    "ETCD_SERVER_VERSION",
    "GRPC_OVERHEAD_BYTES",
    "KEYRAFT_VERSION",
    "ConfigError",
    "ServerConfig",
    "check_url",
    "validate",
]


def validate(config: ServerConfig) -> None:
    """Refuse configurations etcd would refuse, and those keyraft cannot run yet."""
    for flag, urls in (
        ("--listen-client-urls", config.listen_client_urls),
        ("--advertise-client-urls", config.advertise_client_urls),
        ("--listen-peer-urls", config.listen_peer_urls),
        ("--initial-advertise-peer-urls", config.initial_advertise_peer_urls),
    ):
        if not urls:
            raise ConfigError(f"{flag}: at least one URL is required")
        for url in urls:
            check_url(flag, url)
    for url in config.listen_metrics_urls:
        check_url("--listen-metrics-urls", url)
    if config.initial_cluster_state not in ("new", "existing"):
        raise ConfigError(
            f'--initial-cluster-state: must be "new" or "existing", not '
            f'"{config.initial_cluster_state}"'
        )
    if config.max_request_bytes <= 0:
        raise ConfigError("--max-request-bytes: must be positive")
    if config.max_txn_ops <= 0:
        raise ConfigError("--max-txn-ops: must be positive")
    if config.quota_backend_bytes < 0:
        raise ConfigError("--quota-backend-bytes: must not be negative")
    if config.quota_backend_bytes == 0:
        config.quota_backend_bytes = DEFAULT_QUOTA_BACKEND_BYTES
    try:
        parse_retention(config.auto_compaction_mode, config.auto_compaction_retention)
    except BadRetention as error:
        raise ConfigError(str(error)) from None
    if config.log_level not in ("debug", "info", "warn", "error", "panic", "fatal"):
        raise ConfigError(f'--log-level: unknown level "{config.log_level}"')
    if not MIN_COST <= config.bcrypt_cost <= MAX_COST:
        raise ConfigError(f"--bcrypt-cost: must be between {MIN_COST} and {MAX_COST}")
    try:
        parse_auth_token(config.auth_token, config.auth_token_ttl, time.monotonic)
    except BadTokenOption as error:
        raise ConfigError(f"--auth-token: {error}") from None
    check_tls_flags(config)
    for origin in config.cors:
        check_origin(origin)
    members = config.cluster_members()
    if config.name not in members:
        raise ConfigError(
            f"--initial-cluster has no member named {config.name!r} (--name); "
            f"it names {', '.join(sorted(members))}"
        )
    if sorted(members[config.name]) != sorted(config.initial_advertise_peer_urls):
        raise ConfigError(
            f"--initial-cluster has {config.name}={','.join(members[config.name])} but "
            f"--initial-advertise-peer-urls is {','.join(config.initial_advertise_peer_urls)}"
        )


def check_origin(origin: str) -> None:
    """An origin for --cors: "*", or scheme://host[:port] (etcd 3.4 also demands the
    port, so that browsers' port-less origins never match there; keyraft takes both)."""
    if origin == "*":
        return
    parts = urlsplit(origin)
    if not parts.scheme or not parts.hostname or parts.path:
        raise ConfigError(f'--cors: "{origin}" is not an origin (scheme://host[:port]) or "*"')
