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
from keyraft.ctl.errors import (
    EXIT_INTERRUPTED,
    BadArguments,
    CtlError,
    EndpointsUnreachable,
    InvalidInput,
)
from keyraft.ctl.gofmt import flag_error, parse_int
from keyraft.ctl.interrupt import exit_on_interrupt
from keyraft.ctl.output import Printer
from keyraft.ctl.pflag import GO_INT
from keyraft.ctl.requests import key_range, to_bytes
from keyraft.ctl.threads import start_background
from keyraft.ctl.txn_grammar import argify

RETRY_PAUSE = 0.2
_PRINT_LOCK = threading.Lock()
FUTURE_REVISION = "etcdserver: mvcc: required revision is a future revision"


class WatchCanceled(CtlError):
    """The server ended the watch; etcdctl exits with ExitInterrupted."""

    exit_code = EXIT_INTERRUPTED


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


class SkippedLine(CtlError):
    """A `watch -i` line etcdctl reports as it stands (no `Error:`) and skips."""


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


class WatchCompacted(WatchCanceled):
    """The server canceled the watch: its start revision is compacted."""


COMPACTED = "etcdserver: mvcc: required revision has been compacted"


def _handle(message: dict, next_revision: int, show: Callable[[dict], None]) -> int:
    if message.get("canceled"):
        # etcdctl: says why on stderr, shows the (event-less) answer, then exits 5
        reason = message.get("cancel_reason") or FUTURE_REVISION
        if message.get("compact_revision"):
            reason = COMPACTED
        _note(f"watch was canceled ({reason})")
        with _PRINT_LOCK:
            show({**message, "events": []})
        compacted = bool(message.get("compact_revision"))
        raise (WatchCompacted if compacted else WatchCanceled)("watch is canceled by the server")
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
    if not words:
        raise SkippedLine(f"Invalid command: {line} (watch and progress supported)")
    if words[0] != "watch":
        raise SkippedLine(f"Invalid command {line} (only support watch)")
    if len(words) < 2:
        raise SkippedLine(f"Invalid command {line} (command type or key is not provided)")
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
                spec.rev = parse_int(value, base=0)
            except ValueError as problem:  # pflag's words; etcdctl exits on a bad flag
                raise BadArguments(flag_error("--rev", value, problem)) from None
        elif word.startswith("--"):
            raise BadArguments(f"unknown flag: {word}")
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
    try:
        # as etcdctl: the end of stdin (or a last line without newline) ends every watch
        while (raw := sys.stdin.readline()).endswith("\n"):
            line = raw[:-1]
            try:
                spec = parse_watch_line(line)
            except SkippedLine as problem:
                _note(str(problem))
                continue
            except BadArguments:
                raise
            except CtlError as problem:
                _note(f"Error: {problem}")
                continue
            worker = start_background(_guarded, client_factory(), spec, printer.watch, stop)
            workers.append(worker)
    finally:
        stop.set()
    raise InvalidInput("Error reading watch request line: EOF")


def _guarded(
    client: GatewayClient, spec: WatchSpec, show: Callable[[dict], None], stop: threading.Event
) -> None:
    try:
        run_watch(client, spec, show, stop)
    except WatchCanceled:
        pass  # etcdctl -i: that watch alone ends, its reason already said
    except CtlError as problem:
        _note(f"Error: {problem}")
    finally:
        client.close()


@click.command("watch")
@click.argument("arguments", nargs=-1, metavar="[KEY [RANGE_END]]")
@click.option("--prefix", is_flag=True, help="Watch keys with this prefix.")
@click.option("--rev", type=GO_INT, default=0, help="Revision to start watching from.")
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
        if interactive:  # arguments ignored, as etcdctl does: the keys come from stdin
            _interactive(lambda: GatewayClient(context.client.config), printer)
            return
        if not arguments or len(arguments) > 2:
            raise BadArguments("bad number of arguments")  # etcdctl 3.4's words
        if prefix and len(arguments) == 2:
            raise BadArguments("`range_end` and `--prefix` are mutually exclusive")
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
