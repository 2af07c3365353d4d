"""What the Raft core costs per committed entry: `python -m bench.raft_bench`.

An in-process 3-node cluster (MemoryStorage, messages handed over in memory,
optionally through the wire codec) commits N proposals submitted in batches.
Every node persists, sends, applies and advances each Ready, as a real driver
would, minus the I/O. Reported: committed entries per second and microseconds
per entry, measured until every node has applied every entry.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import deque

from keyraft.raft import (
    Config,
    MemoryStorage,
    Message,
    RawNode,
    StateRole,
    decode_message,
    encode_message,
)


class Cluster:
    def __init__(self, size: int, *, use_codec: bool) -> None:
        voters = tuple(range(1, size + 1))
        self.storages = {node_id: MemoryStorage() for node_id in voters}
        self.nodes = {
            node_id: RawNode(
                Config(id=node_id, voters=voters, rng=random.Random(node_id)),
                self.storages[node_id],
            )
            for node_id in voters
        }
        self.applied = dict.fromkeys(voters, 0)
        self.use_codec = use_codec
        self.queue: deque[Message | bytes] = deque()
        self.bytes_sent = 0

    def process(self, node_id: int) -> None:
        node = self.nodes[node_id]
        storage = self.storages[node_id]
        while node.has_ready():
            ready = node.ready()
            if ready.snapshot is not None:
                storage.apply_snapshot(ready.snapshot)
            if ready.entries:
                storage.append(ready.entries)
            if ready.hard_state is not None:
                storage.set_hard_state(ready.hard_state)
            for message in ready.messages:
                if self.use_codec:
                    encoded = encode_message(message)
                    self.bytes_sent += len(encoded)
                    self.queue.append(encoded)
                else:
                    self.queue.append(message)
            self.applied[node_id] += sum(1 for entry in ready.committed_entries if entry.data)
            node.advance(ready)

    def run_until_quiet(self) -> None:
        for node_id in self.nodes:
            self.process(node_id)
        while self.queue:
            item = self.queue.popleft()
            message = decode_message(item) if isinstance(item, bytes) else item
            self.nodes[message.to].step(message)
            self.process(message.to)

    def elect(self, node_id: int) -> None:
        self.run_until_quiet()
        self.nodes[node_id].campaign()
        self.run_until_quiet()
        assert self.nodes[node_id].raft.role == StateRole.LEADER


def run(proposals: int, batch: int, size: int, *, use_codec: bool) -> tuple[float, Cluster]:
    cluster = Cluster(3, use_codec=use_codec)
    cluster.elect(1)
    leader = cluster.nodes[1]
    payload = b"v" * size
    started = time.perf_counter()
    remaining = proposals
    while remaining:
        count = min(batch, remaining)
        leader.propose_batch([payload] * count)
        remaining -= count
        cluster.run_until_quiet()
    elapsed = time.perf_counter() - started
    for node_id, applied in cluster.applied.items():
        if applied != proposals:
            raise SystemExit(f"node {node_id} applied {applied} of {proposals} entries")
    return elapsed, cluster


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100, help="proposals per propose_batch")
    parser.add_argument("--size", type=int, default=256, help="payload bytes per proposal")
    args = parser.parse_args(argv)
    print(
        f"raft core, 3 nodes in-process, {args.proposals} proposals of {args.size} B "
        f"in batches of {args.batch}"
    )
    for use_codec in (False, True):
        elapsed, cluster = run(args.proposals, args.batch, args.size, use_codec=use_codec)
        label = "messages through the wire codec" if use_codec else "messages as objects"
        extra = f", {cluster.bytes_sent / 1e6:.1f} MB encoded" if use_codec else ""
        print(
            f"  {label:32s} {args.proposals / elapsed:10,.0f} entries/s  "
            f"{elapsed / args.proposals * 1e6:6.2f} us/entry  ({elapsed:.2f} s{extra})"
        )


if __name__ == "__main__":
    main()
