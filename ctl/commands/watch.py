"""`watch`: print events as they arrive; survive an endpoint failing.

When a stream breaks, the watch is re-created on the next endpoint from the revision after
the last event printed, and any event at or below that revision is dropped, so the output
has neither gaps nor duplicates (etcd's watch guarantee, kept across reconnects).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import click

from keyraft.ctl.client import GatewayClient, StreamBroken
from keyraft.ctl.context import global_options, state
from keyraft.ctl.errors import CtlError, EndpointsUnreachable, InvalidInput
from keyraft.ctl.interrupt import exit_on_interrupt
from keyraft.ctl.output import Printer
from keyraft.ctl.requests import key_range, to_bytes
from keyraft.ctl.txn_grammar import argify

RETRY_PAUSE = 0.2
_PRINT_LOCK = threading.Lock()


@dataclass
class WatchSpec:
    key: bytes
    range_end: bytes | None = None
    prefix: bool = False
    rev: int = 0
    prev_kv: bool = False

    def create_request(self, start_revision: int) -> dict:
        body = key_range(self.key, self.range_end, self.prefix, False)
        if start_revision:
            body["start_revision"] = start_revision
        if self.prev_kv:
            body["prev_kv"] = True
        return {"create_request": body}


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_watch(
    client: GatewayClient,
    spec: WatchSpec,
    show: Callable[[dict], None],
    stop: threading.Event | None = None,
) -> None:
    """Watch until `stop` is set (or forever), resuming after failures."""
    next_revision = spec.rev
    while stop is None or not stop.is_set():
        try:
            with client.stream("/v3/watch", spec.create_request(next_revision)) as (
                endpoint,
                messages,
            ):
                for message in messages:
                    next_revision = _handle(message, next_revision, show)
        except (StreamBroken, EndpointsUnreachable) as problem:
            broken = getattr(problem, "attempts", None) is None
            if broken:
                client.skip_current()
            _note(f"watch: {problem}; resuming from revision {next_revision or 'now'}")
            time.sleep(RETRY_PAUSE)


class WatchCompacted(CtlError):
    """The server canceled the watch: its start revision is compacted."""


COMPACTED = "etcdserver: mvcc: required revision has been compacted"


def _handle(message: dict, next_revision: int, show: Callable[[dict], None]) -> int:
    if message.get("canceled"):
        reason = message.get("cancel_reason") or ""
        if message.get("compact_revision"):
            raise WatchCompacted(f"watch is canceled by the server ({COMPACTED})")
        raise CtlError(
            f"watch is canceled by the server ({reason})"
            if reason
            else "watch is canceled by the server"
        )
    events = message.get("events") or []
    if not events:
        if message.get("created") and not next_revision:
            # Resume a watch "from now" right after the revision it was created at.
            next_revision = int(message.get("header", {}).get("revision", 0) or 0) + 1
        return next_revision
    fresh = [
        event
        for event in events
        if int(event.get("kv", {}).get("mod_revision", 0) or 0) >= next_revision
    ]
    if fresh:
        with _PRINT_LOCK:
            show({**message, "events": fresh})
        next_revision = int(fresh[-1]["kv"].get("mod_revision", 0) or 0) + 1
    return next_revision


def parse_watch_line(line: str) -> WatchSpec:
    """One `watch KEY [RANGE_END] [--prefix] [--rev N] [--prev-kv]` line of `watch -i`."""
    words = argify(line)
    if not words or words[0] != "watch":
        raise InvalidInput(f"Invalid command {line!r} (only support watch)")
    spec, positional, index = WatchSpec(b""), [], 1
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--prefix":
            spec.prefix = True
        elif word == "--prev-kv":
            spec.prev_kv = True
        elif word.startswith("--rev"):
            value = word.partition("=")[2]
            if not value and index < len(words):
                value, index = words[index], index + 1
            try:
                spec.rev = int(value)
            except ValueError:
                raise InvalidInput(f"invalid revision in {line!r}") from None
        elif word.startswith("--"):
            raise InvalidInput(f"unknown flag {word} in {line!r}")
        else:
            positional.append(word)
    if not positional or len(positional) > 2:
        raise InvalidInput(f"watch needs a key and an optional range end: {line!r}")
    spec.key = to_bytes(positional[0])
    spec.range_end = to_bytes(positional[1]) if len(positional) == 2 else None
    key_range(spec.key, spec.range_end, spec.prefix, False)
    return spec


def _interactive(client_factory: Callable[[], GatewayClient], printer: Printer) -> None:
    """`watch -i`: each stdin line starts another watch; they all print as events come."""
    stop = threading.Event()
    workers: list[threading.Thread] = []
    for raw in iter(sys.stdin.readline, ""):
        line = raw.strip()
        if not line:
            continue
        try:
            spec = parse_watch_line(line)
        except CtlError as problem:
            _note(f"Error: {problem}")
            continue
        worker = threading.Thread(
            target=_guarded, args=(client_factory(), spec, printer.watch, stop), daemon=True
        )
        worker.start()
        workers.append(worker)
    while any(worker.is_alive() for worker in workers):
        for worker in workers:
            worker.join(0.5)


def _guarded(
    client: GatewayClient, spec: WatchSpec, show: Callable[[dict], None], stop: threading.Event
) -> None:
    try:
        run_watch(client, spec, show, stop)
    except CtlError as problem:
        _note(f"Error: {problem}")
    finally:
        client.close()


@click.command("watch")
@click.argument("arguments", nargs=-1, metavar="[KEY [RANGE_END]]")
@click.option("--prefix", is_flag=True, help="Watch keys with this prefix.")
@click.option("--rev", type=int, default=0, help="Revision to start watching from.")
@click.option("--prev-kv", is_flag=True, help="Print the previous key-value pair with each event.")
@click.option("-i", "--interactive", is_flag=True, help="Read `watch ...` lines from stdin.")
@global_options()
def watch(
    arguments: tuple[str, ...], prefix: bool, rev: int, prev_kv: bool, interactive: bool
) -> None:
    """Watch KEY (or a range, or a prefix) and print events until interrupted."""
    exit_on_interrupt()
    context = state()
    printer = context.printer()
    try:
        if interactive:
            if arguments:
                raise click.UsageError("watch -i takes its keys from stdin, not arguments")
            _interactive(lambda: GatewayClient(context.client.config), printer)
            return
        if not arguments or len(arguments) > 2:
            raise click.UsageError(
                "watch in non-interactive mode requires one or two arguments as key and an "
                "optional range end"
            )
        spec = WatchSpec(
            to_bytes(arguments[0]),
            to_bytes(arguments[1]) if len(arguments) == 2 else None,
            prefix,
            rev,
            prev_kv,
        )
        run_watch(context.client, spec, printer.watch)
    except KeyboardInterrupt:
        return
