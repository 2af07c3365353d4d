"""CPU cost of keeping leases alive on a 3-member cluster, keyraft vs real etcd, same run.

    python -m bench.lease_bench [--leases 10000] [--ttl 9] [--duration 30] [--per-stream 100]

Grants --leases leases (explicit IDs, one key attached to each), then for --duration seconds
renews every one of them every TTL/3 through the gateway's keepalive stream (--per-stream
renewals per POST, spread round-robin over all members, so two thirds are forwarded to the
leader). Reports the CPU seconds (utime + stime from /proc/<pid>/stat) the members used
during the keepalive phase, and checks that no lease was lost.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import time

import httpx

from bench.clusters import cpu_seconds, measure_both, print_ratios
from tests.support.servers import Member, find_leader, start_all


def _grant_all(client: httpx.Client, members: list[Member], args: argparse.Namespace) -> int:
    """Grant in chunks, renewing those granted so far every TTL/3 (granting takes longer
    than a TTL); return how many renewals went unanswered."""

    def grant(index: int) -> None:
        url = members[index % len(members)].client_url
        lease = 1_000_000 + index
        granted = client.post(url + "/v3/lease/grant", json={"ID": lease, "TTL": args.ttl})
        assert granted.status_code == 200, granted.text
        key = {"key": f"bGVhc2Uv{index:08d}", "value": "dg==", "lease": lease}
        assert client.post(url + "/v3/kv/put", json=key).status_code == 200

    lost = 0
    renewed_at = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        for start in range(0, args.leases, 500):
            list(pool.map(grant, range(start, min(args.leases, start + 500))))
            if time.monotonic() - renewed_at > args.ttl / 3:
                renewed_at = time.monotonic()
                lost += _renew_round(
                    client, members, min(args.leases, start + 500), args.per_stream
                )
    return lost


def _renew_round(client: httpx.Client, members: list[Member], leases: int, per_stream: int) -> int:
    """Renew every lease once; how many got no TTL back (lease gone, or an answer the
    gateway dropped: etcd 3.4's gateway sometimes ends the stream at body EOF before
    every answer is written)."""

    def stream(start: int) -> int:
        ids = range(1_000_000 + start, 1_000_000 + min(leases, start + per_stream))
        body = "".join(f'{{"ID":{lease}}}' for lease in ids)
        url = members[(start // per_stream) % len(members)].client_url
        response = client.post(url + "/v3/lease/keepalive", content=body)
        return len(ids) - response.content.count(b'"TTL"')

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return sum(pool.map(stream, range(0, leases, per_stream)))


def measure(members: list[Member], args: argparse.Namespace) -> dict[str, float]:
    start_all(members)
    try:
        find_leader(members)
        limits = httpx.Limits(max_connections=64)
        with httpx.Client(timeout=30, limits=limits) as client:
            started = time.monotonic()
            lost = _grant_all(client, members, args)
            granting = time.monotonic() - started
            before = cpu_seconds(members)
            began = time.monotonic()
            rounds = 0
            while time.monotonic() - began < args.duration:
                round_start = time.monotonic()
                lost += _renew_round(client, members, args.leases, args.per_stream)
                rounds += 1
                time.sleep(max(0.0, args.ttl / 3 - (time.monotonic() - round_start)))
            elapsed = time.monotonic() - began
            cpu = cpu_seconds(members) - before
        return {
            "grant+attach s": granting,
            "keepalive rounds": rounds,
            "unanswered renewals": lost,
            "CPU s (3 members)": cpu,
            "CPU % of one core": 100 * cpu / elapsed,
        }
    finally:
        for member in members:
            member.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leases", type=int, default=10_000)
    parser.add_argument("--ttl", type=int, default=9)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--per-stream", type=int, default=100)
    args = parser.parse_args()
    etcd, keyraft = measure_both("lease-bench-", lambda members: measure(members, args))
    print(
        f"{args.leases} leases, TTL {args.ttl}s, renewed every {args.ttl / 3:.1f}s "
        f"for {args.duration}s, {args.per_stream} per keepalive stream"
    )
    print_ratios(etcd, keyraft, digits=1)


if __name__ == "__main__":
    main()
