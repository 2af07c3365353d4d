"""`make-mirror`: copy a prefix of one cluster into another and keep it up to date, as
etcdctl 3.4's does (its mirror.Syncer).

First every key under --prefix is read at one revision (paged ranges at that revision)
and put into the destination, one put per key in key order; then a watch from the next
revision replays every change, the events of each source revision as one destination
transaction. Keys are renamed as etcdctl renames them: the first occurrence of --prefix
becomes --dest-prefix (--prefix itself by default; --no-dest-prefix: nothing). Every
30 s the number of keys synced so far is printed. It runs until interrupted, or until an
error (a compacted watch, a refused write) ends it with status 1.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import click

from keyraft.ctl.client import ClientConfig, GatewayClient, b64, unb64
from keyraft.ctl.commands.watch import COMPACTED, WatchCompacted, WatchSpec, run_watch
from keyraft.ctl.context import global_options, state
from keyraft.ctl.errors import BadArguments, CtlError, EndpointsUnreachable
from keyraft.ctl.interrupt import exit_on_interrupt
from keyraft.ctl.requests import key_range, to_bytes
from keyraft.ctl.threads import start_background

SYNC_PAGE = 1000  # keys per range while copying the base (etcd's syncer batch)
REPORT_EVERY_S = 30.0


class Mirror:
    """One mirroring run from `source` to `destination`; `synced` counts keys put and
    deleted at the destination."""

    def __init__(
        self,
        source: GatewayClient,
        destination: GatewayClient,
        prefix: bytes,
        rename: Callable[[bytes], bytes],
    ) -> None:
        self.source = source
        self.destination = destination
        self.prefix = prefix
        self.rename = rename
        self.synced = 0

    def copy_base(self) -> int:
        """Put every key under the prefix, as of one revision, into the destination;
        return that revision."""
        header = self.source.call("/v3/kv/range", {"key": b64(b"foo")})["header"]
        revision = int(header["revision"])
        request = {**key_range(self.prefix, None, True, False), "revision": revision}
        while True:
            answer = self.source.call("/v3/kv/range", {**request, "limit": SYNC_PAGE})
            kvs = answer.get("kvs") or []
            for kv in kvs:
                self.destination.call("/v3/kv/put", self._put(kv))
                self.synced += 1
            if not answer.get("more") or not kvs:
                return revision
            request["key"] = b64(unb64(kvs[-1]["key"]) + b"\x00")

    def follow(self, revision: int) -> None:
        """Replay the source's changes from `revision` on, forever."""
        spec = WatchSpec(self.prefix, prefix=True, rev=revision)
        try:
            run_watch(self.source, spec, self._apply)
        except WatchCompacted:
            raise CtlError(COMPACTED) from None  # etcdctl's words (rpctypes.ErrCompacted)

    def _apply(self, message: dict) -> None:
        """The events of one watch message: one destination txn per source revision."""
        operations: list[dict] = []
        last = 0
        for event in message.get("events") or []:
            kv = event.get("kv") or {}
            revision = int(kv.get("mod_revision") or 0)
            if operations and revision != last:
                self._commit(operations)
                operations = []
            last = revision
            if event.get("type") == "DELETE":
                key = b64(self.rename(unb64(kv.get("key"))))
                operations.append({"request_delete_range": {"key": key}})
            else:
                operations.append({"request_put": self._put(kv)})
            self.synced += 1
        if operations:
            self._commit(operations)

    def _commit(self, operations: list[dict]) -> None:
        try:
            self.destination.call("/v3/kv/txn", {"success": operations})
        except EndpointsUnreachable as problem:  # not the source's: the watch must not resume
            raise CtlError(str(problem)) from None

    def _put(self, kv: dict) -> dict:
        body = {"key": b64(self.rename(unb64(kv.get("key"))))}
        if kv.get("value"):
            body["value"] = kv["value"]
        return body


def report(mirror: Mirror, stop: threading.Event) -> None:
    """etcdctl's progress: the count of synced keys, every REPORT_EVERY_S until `stop`."""
    while not stop.wait(REPORT_EVERY_S):
        print(mirror.synced, flush=True)


@click.command("make-mirror")
@click.argument("destination", nargs=-1, metavar="<destination>")
@click.option(
    "--dest-cacert",
    default="",
    help="Verify certificates of TLS enabled secure servers using this CA bundle.",
)
@click.option(
    "--dest-cert",
    default="",
    help="Identify secure client using this TLS certificate file for the destination cluster.",
)
@click.option("--dest-key", default="", help="Identify secure client using this TLS key file.")
@click.option(
    "--dest-insecure-transport/--dest-secure-transport",
    default=True,
    help="Disable transport security for client connections.",
)
@click.option(
    "--dest-prefix",
    default="",
    help="Destination prefix to mirror a prefix to a different prefix in the destination cluster.",
)
@click.option(
    "--no-dest-prefix/--keep-dest-prefix",
    default=False,
    help="Mirror key-values to the root of the destination cluster.",
)
@click.option("--prefix", default="", help="Key-value prefix to mirror.")
@global_options()
def make_mirror(
    destination: tuple[str, ...],
    dest_cacert: str,
    dest_cert: str,
    dest_key: str,
    dest_insecure_transport: bool,
    dest_prefix: str,
    no_dest_prefix: bool,
    prefix: str,
) -> None:  # fmt: skip
    """Makes a mirror at the destination etcd cluster."""
    if len(destination) != 1:
        raise BadArguments("make-mirror takes one destination argument")
    if no_dest_prefix and dest_prefix:
        raise BadArguments(
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one"
        )
    exit_on_interrupt()
    context = state()
    source_prefix = to_bytes(prefix)
    target_prefix = b"" if no_dest_prefix else to_bytes(dest_prefix) or source_prefix
    # etcdctl dials the destination with the global timeouts, its own TLS, and no user.
    target: ClientConfig = dataclasses.replace(
        context.config(),
        endpoints=destination,
        cacert=dest_cacert or None,
        cert=dest_cert or None,
        key=dest_key or None,
        insecure_transport=dest_insecure_transport,
        insecure_skip_tls_verify=False,
        user=None,
        password=None,
    )
    client = GatewayClient(target)
    try:
        mirror = Mirror(
            context.client,
            client,
            source_prefix,
            lambda key: key.replace(source_prefix, target_prefix, 1),
        )
        start_background(report, mirror, threading.Event())
        mirror.follow(mirror.copy_base() + 1)
    finally:
        client.close()
