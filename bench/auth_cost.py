"""What auth costs per request: CPU time through the gateway's dispatcher, in process.

    python -m bench.auth_cost [--requests 20000] [--rounds 5]

One single-member EtcdServer (RocksDB and WAL on disk, the real clock). For each of
serializable range, linearizable range and put (50 concurrent), the best of `--rounds`
runs of `--requests` requests each: auth off, then auth on with a user holding READWRITE on
the keys' prefix (its simple token in the Authorization header). CPU time per request
(process time: this and RocksDB's threads), which moves far less on a shared VM than
throughput does. A measurement, not a pass/fail test.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

import orjson

from bench.kv_bench import AUTH_SETUP
from keyraft.app.gateway import RPCS, dispatch
from keyraft.app.server.config import ServerConfig
from keyraft.app.server.etcdserver import EtcdServer

CONCURRENCY = 50
WORKLOADS = {
    "range (serializable)": ("/v3/kv/range", {"key": "YmVuY2g=", "serializable": True}),
    "range": ("/v3/kv/range", {"key": "YmVuY2g="}),
    "put": ("/v3/kv/put", {"key": "YmVuY2g=", "value": "dmFsdWU="}),
}


async def _call(server: EtcdServer, path: str, body: dict, headers=()) -> dict:
    status, answer = await dispatch(server, RPCS[path], orjson.dumps(body), headers)
    assert status == 200, answer
    return orjson.loads(answer)


async def _cpu_per_request(server: EtcdServer, path: str, body: dict, headers, count: int) -> float:
    encoded = orjson.dumps(body)
    rpc = RPCS[path]
    queue = iter(range(count))

    async def worker() -> None:
        for _ in queue:
            status, answer = await dispatch(server, rpc, encoded, headers)
            assert status == 200, answer

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return (time.process_time() - started) / count * 1e6


async def _run(requests: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="auth-cost-") as directory:
        server = EtcdServer(ServerConfig(name="bench", data_dir=directory, bcrypt_cost=4))
        await server.start()
        try:
            await _call(server, "/v3/kv/put", {"key": "YmVuY2g=", "value": "dg=="})
            results: dict[str, dict[str, float]] = {name: {} for name in WORKLOADS}
            for mode in ("off", "on"):
                headers: tuple = ()
                if mode == "on":
                    for path, body in AUTH_SETUP:
                        await _call(server, path, body)
                    token = (
                        await _call(
                            server, "/v3/auth/authenticate", {"name": "bench", "password": "pw"}
                        )
                    )["token"]
                    headers = ((b"authorization", token.encode()),)
                for name, (path, body) in WORKLOADS.items():
                    results[name][mode] = min(
                        [
                            await _cpu_per_request(server, path, body, headers, requests)
                            for _ in range(rounds)
                        ]
                    )
            print(f"CPU per request, best of {rounds} x {requests} ({CONCURRENCY} concurrent):")
            for name, by_mode in results.items():
                off, on = by_mode["off"], by_mode["on"]
                print(f"  {name:22} auth off {off:6.1f} us  on {on:6.1f} us  ({on / off - 1:+.0%})")
        finally:
            await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_run(args.requests, args.rounds))


if __name__ == "__main__":
    main()
