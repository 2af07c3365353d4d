"""etcd 3.4's flags that keyraft takes but has no use for, and those it refuses.

An etcd command line, config file or ETCD_* environment must start keyraft: a flag that
tunes something keyraft does differently (bbolt, gRPC, the v2 API, the v2 proxy) is
accepted, its value checked for shape only, and a warning says it is ignored; `keyraft
--help` lists them as such. A flag whose silent absence would leave a member less secure
or in a different cluster than the operator asked for (certificate restrictions,
revocation lists, discovery) is refused with a clear message instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import click


@dataclass(frozen=True, slots=True)
class EtcdFlag:
    boolean: bool  # `--flag`, `--flag=true|false`; else the flag takes a value
    why: str


IGNORED: dict[str, EtcdFlag] = {
    "--backend-batch-interval": EtcdFlag(False, "keyraft commits its backend per applied batch"),
    "--backend-batch-limit": EtcdFlag(False, "keyraft commits its backend per applied batch"),
    "--experimental-backend-bbolt-freelist-type": EtcdFlag(False, "keyraft's backend is RocksDB"),
    "--experimental-compaction-batch-limit": EtcdFlag(False, "compaction is not batched"),
    "--max-snapshots": EtcdFlag(
        False, "keyraft keeps its Raft snapshots and WAL by its own policy"
    ),
    "--max-wals": EtcdFlag(False, "keyraft keeps its Raft snapshots and WAL by its own policy"),
    "--max-concurrent-streams": EtcdFlag(False, "no gRPC server: see the client connection cap"),
    "--grpc-keepalive-min-time": EtcdFlag(False, "no gRPC server: HTTP connections keep alive"),
    "--grpc-keepalive-interval": EtcdFlag(False, "no gRPC server: HTTP connections keep alive"),
    "--grpc-keepalive-timeout": EtcdFlag(False, "no gRPC server: HTTP connections keep alive"),
    "--initial-election-tick-advance": EtcdFlag(True, "elections follow keyraft's own timing"),
    "--pre-vote": EtcdFlag(True, "keyraft's Raft always uses pre-vote"),
    "--enable-v2": EtcdFlag(True, "the v2 API is not served"),
    "--experimental-enable-v2v3": EtcdFlag(False, "the v2 API is not served"),
    "--metrics": EtcdFlag(False, "/metrics always serves the same set"),
    "--log-package-levels": EtcdFlag(False, "use --log-level"),
    "--experimental-enable-lease-checkpoint": EtcdFlag(True, "lease TTLs are kept by the leader"),
    "--experimental-warning-apply-duration": EtcdFlag(False, "slow applies are not logged"),
    "--experimental-peer-skip-client-san-verification": EtcdFlag(
        True, "peer certificates are verified by keyraft's TLS settings"
    ),
    "--proxy": EtcdFlag(False, "keyraft has no v2 proxy mode"),
    "--proxy-failure-wait": EtcdFlag(False, "keyraft has no v2 proxy mode"),
    "--proxy-refresh-interval": EtcdFlag(False, "keyraft has no v2 proxy mode"),
    "--proxy-dial-timeout": EtcdFlag(False, "keyraft has no v2 proxy mode"),
    "--proxy-write-timeout": EtcdFlag(False, "keyraft has no v2 proxy mode"),
    "--proxy-read-timeout": EtcdFlag(False, "keyraft has no v2 proxy mode"),
    "--discovery-fallback": EtcdFlag(False, "discovery is not supported"),
}

REFUSED: dict[str, str] = {
    "--discovery": "discovery is not supported: list the members with --initial-cluster",
    "--discovery-proxy": "discovery is not supported: list the members with --initial-cluster",
    "--discovery-srv": "DNS discovery is not supported: list the members with --initial-cluster",
    "--discovery-srv-name": "DNS discovery is not supported: list the members with --initial-cluster",
    "--client-crl-file": "certificate revocation lists are not supported",
    "--peer-crl-file": "certificate revocation lists are not supported",
    "--client-cert-allowed-hostname": "restricting client certificates by name is not supported",
    "--peer-cert-allowed-cn": "restricting peer certificates by name is not supported",
    "--peer-cert-allowed-hostname": "restricting peer certificates by name is not supported",
}


def _name(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def etcd_only_flags(command: Callable) -> Callable:
    """Add the ignored and refused flags to the server's command."""
    for flag, spec in IGNORED.items():
        options: dict = {
            "default": None,
            "help": f"Accepted for etcd compatibility, ignored: {spec.why}.",
        }
        if spec.boolean:  # `--flag` alone means true, as Go's bool flags
            options.update(is_flag=False, flag_value="true", type=click.BOOL)
        command = click.option(flag, _name(flag), hidden=False, **options)(command)
    for flag, why in REFUSED.items():
        command = click.option(flag, _name(flag), default=None, hidden=True, help=why)(command)
    return command


def pop_etcd_only_flags(flags: dict[str, object]) -> list[str]:
    """Take the etcd-only flags out of `flags`; refuse the refused ones given, and return
    the warnings for the ignored ones given (logged once logging is set up)."""
    for flag, why in REFUSED.items():
        if flags.pop(_name(flag), None) not in (None, ""):
            raise click.UsageError(f"{flag}: {why}")
    warnings = []
    for flag, spec in IGNORED.items():
        value = flags.pop(_name(flag), None)
        if value is not None:
            warnings.append(
                f"{flag}={value} is accepted for etcd compatibility and ignored: {spec.why}"
            )
    return warnings
