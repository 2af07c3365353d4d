"""`endpoint health|status [--cluster]`: ask each endpoint on its own, without failover."""

from __future__ import annotations

import time

import click

from keyraft.ctl.client import unb64
from keyraft.ctl.context import IGNORES_ARGUMENTS, global_options, state
from keyraft.ctl.errors import CtlError
from keyraft.ctl.gofmt import duration
from keyraft.ctl.output.base import Health, Status
from keyraft.ctl.pflag import GO_INT, EtcdctlGroup


def endpoints(cluster: bool) -> list[str]:
    """The flag's endpoints, or every member's client URLs with --cluster."""
    client = state().client
    if not cluster:
        return client.endpoints
    members = client.call("/v3/cluster/member/list", {}).get("members", [])
    return [url for member in members for url in member.get("clientURLs", [])]


def _check(endpoint: str) -> Health:
    """Healthy when a linearizable read commits (etcdctl reads key "health") and no alarm."""
    client = state().client
    started = time.monotonic()
    try:
        client.call_at(endpoint, "/v3/kv/range", {"key": "aGVhbHRo"})
        took = duration(time.monotonic() - started)
        alarms = client.call_at(endpoint, "/v3/maintenance/alarm", {}).get("alarms", [])
    except CtlError as problem:
        if "permission denied" in str(problem):
            return Health(endpoint, True, duration(time.monotonic() - started))
        return Health(endpoint, False, duration(time.monotonic() - started), str(problem))
    if alarms:
        names = ", ".join(
            f"memberID:{int(alarm.get('memberID', 0) or 0)} alarm:{alarm.get('alarm', 'NONE')}"
            for alarm in alarms
        )
        return Health(endpoint, False, took, f"Active Alarm(s): {names}")
    return Health(endpoint, True, took)


@click.group("endpoint", cls=EtcdctlGroup)
def endpoint() -> None:
    """Endpoint related commands."""


@endpoint.command("health", context_settings=IGNORES_ARGUMENTS)
@click.option("--cluster", is_flag=True, help="Check every member's client URLs.")
@global_options()
def health(cluster: bool) -> None:
    """Check the health of the endpoints."""
    results = [_check(url) for url in endpoints(cluster)]
    state().printer().endpoint_health(results)
    if not all(result.healthy for result in results):
        raise CtlError("unhealthy cluster")


@endpoint.command("status", context_settings=IGNORES_ARGUMENTS)
@click.option("--cluster", is_flag=True, help="Ask every member's client URLs.")
@global_options()
def status(cluster: bool) -> None:
    """Print the status of the endpoints."""
    client = state().client
    results, failures = [], []
    for url in endpoints(cluster):
        try:
            results.append(Status(url, client.call_at(url, "/v3/maintenance/status", {})))
        except CtlError as problem:
            failures.append(f"{url}: {problem}")
    if results:
        state().printer().endpoint_status(results)
    if failures:
        raise CtlError("failed to get the status of " + "; ".join(failures))


@endpoint.command("hashkv", context_settings=IGNORES_ARGUMENTS)
@click.option("--cluster", is_flag=True, help="Ask every member's client URLs.")
@click.option(
    "--rev", default=0, type=GO_INT, help="maximum revision to hash (default: all revisions)"
)
@global_options()
def hashkv(cluster: bool, rev: int) -> None:
    """Prints the KV history hash for each endpoint in --endpoints."""
    client = state().client
    results, failure = [], None
    for url in endpoints(cluster):
        try:
            body = {"revision": rev} if rev else {}
            results.append(Status(url, client.call_at(url, "/v3/maintenance/hashkv", body)))
        except CtlError as problem:
            click.echo(f"Failed to get the hash of endpoint {url} ({problem})", err=True)
            failure = problem
    if results:
        state().printer().endpoint_hashkv(results)
    if failure is not None:
        raise failure


__all__ = ["endpoint", "endpoints", "unb64"]
