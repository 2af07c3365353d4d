"""The server's configuration: etcd's flags as the server uses them, with their defaults.

Parsing and validating flags is the face's job (`keyraft.app.config`); this module is
what the server layer reads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

DEFAULT_MAX_REQUEST_BYTES = 1536 * 1024
DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024
GRPC_OVERHEAD_BYTES = 512 * 1024
API_VERSION = "3.4.0"
ETCD_SERVER_VERSION = "3.4.23"
KEYRAFT_VERSION = "0.1.0"


class ConfigError(ValueError):
    """A flag value keyraft cannot run with; the message names the flag."""


@dataclass(slots=True)
class ServerConfig:
    name: str = "default"
    data_dir: str = ""
    wal_dir: str = ""  # empty: <data-dir>/member/wal, as etcd
    # Disaster recovery: restart as the only member of its cluster, keeping the data.
    force_new_cluster: bool = False
    enable_pprof: bool = False  # serve /debug/pprof/* (Python's equivalents)
    cpu_scheduling: str = "batch"  # Linux policy of the member's threads (app/scheduling.py)
    listen_client_urls: list[str] = field(default_factory=lambda: ["http://localhost:2379"])
    advertise_client_urls: list[str] = field(default_factory=lambda: ["http://localhost:2379"])
    listen_peer_urls: list[str] = field(default_factory=lambda: ["http://localhost:2380"])
    initial_advertise_peer_urls: list[str] = field(
        default_factory=lambda: ["http://localhost:2380"]
    )
    listen_metrics_urls: list[str] = field(default_factory=list)
    initial_cluster: str = ""
    initial_cluster_token: str = "etcd-cluster"
    initial_cluster_state: str = "new"
    strict_reconfig_check: bool = True
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    quota_backend_bytes: int = DEFAULT_QUOTA_BACKEND_BYTES
    max_txn_ops: int = 128
    heartbeat_interval_ms: int = 100
    election_timeout_ms: int = 1000
    snapshot_count: int = 100_000
    auto_compaction_mode: str = "periodic"
    auto_compaction_retention: str = "0"  # periodic: hours or a Go duration; revision: count
    log_level: str = "info"
    logger: str = "capnslog"  # etcd 3.4's default; "zap" logs JSON lines
    log_outputs: str = "default"
    log_format: str = ""  # "json" or "text"; empty: json for zap, else text
    watch_progress_notify_interval_s: float = 600.0
    sse_progress_interval_s: float = 10.0
    corrupt_check_time_s: float = 0.0  # the leader's periodic hash check; 0: off
    initial_corrupt_check: bool = False  # compare hashes with the peers before serving
    auth_token: str = "simple"  # or "jwt,pub-key=...,priv-key=...,sign-method=RS256,ttl=5m"
    auth_token_ttl: int = 300  # seconds a simple token lives unused
    bcrypt_cost: int = 10
    # TLS (etcd's flags; `keyraft.app.server.tls` builds the contexts)
    cert_file: str = ""
    key_file: str = ""
    trusted_ca_file: str = ""
    client_cert_auth: bool = False
    auto_tls: bool = False
    peer_cert_file: str = ""
    peer_key_file: str = ""
    peer_trusted_ca_file: str = ""
    peer_client_cert_auth: bool = False
    peer_auto_tls: bool = False
    cipher_suites: tuple[str, ...] = ()
    tls_min_version: str = "TLS1.2"
    self_signed_cert_validity: int = 1
    # Origins allowed by CORS; "*" (or none) allows every origin, as etcd's --cors.
    cors: tuple[str, ...] = ("*",)
    # Host names plain-http requests may name in Host; "*" (or none) allows all.
    host_whitelist: tuple[str, ...] = ("*",)

    def __post_init__(self) -> None:
        if not self.data_dir:
            self.data_dir = f"{self.name}.keyraft"

    @property
    def grpc_limit_bytes(self) -> int:
        return self.max_request_bytes + GRPC_OVERHEAD_BYTES

    @property
    def kv_dir(self) -> str:
        return os.path.join(self.data_dir, "member", "kv")

    @property
    def default_wal_dir(self) -> str:
        return os.path.join(self.data_dir, "member", "wal")

    @property
    def member_wal_dir(self) -> str:
        """Where the Raft log lives: --wal-dir, else inside the data dir."""
        return self.wal_dir or self.default_wal_dir

    def cluster_members(self) -> dict[str, list[str]]:
        """Parse --initial-cluster (name=url,...) into name -> peer URLs."""
        text = self.initial_cluster or ",".join(
            f"{self.name}={url}" for url in self.initial_advertise_peer_urls
        )
        members: dict[str, list[str]] = {}
        for item in text.split(","):
            name, separator, url = item.strip().partition("=")
            if not separator or not name or not url:
                raise ConfigError(f"--initial-cluster: {item!r} is not of the form name=url")
            check_url("--initial-cluster", url)
            members.setdefault(name, []).append(url)
        return members


def check_url(flag: str, url: str) -> tuple[str, int]:
    """Validate an http or https URL with host and port; return (host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f'{flag}: URL scheme must be http or https: "{url}"')
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f'{flag}: invalid port in "{url}"') from None
    if not parts.hostname or port is None:
        raise ConfigError(f'{flag}: URL must have a host and a port: "{url}"')
    if parts.path not in ("", "/"):
        raise ConfigError(f'{flag}: URL must not have a path: "{url}"')
    return parts.hostname, port
