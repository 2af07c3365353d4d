"""etcd's watch responses in JSON; each change is encoded once for all its watchers.

A change watched by a thousand watchers must not be encoded a thousand times, so encoded
events are kept in a bounded LRU per server, keyed by what identifies an event in etcd's
history: (mod revision, key, deleted, with prev_kv). Revisions are the same on every
member, so an entry never goes stale; only the prev_kv of an event encoded after its
previous version was compacted away may differ, as in etcd.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict

from keyraft.app import codec
from keyraft.app.codec import key_value
from keyraft.app.server.etcdserver import EtcdServer
from keyraft.app.server.request_size import embedded_size, varint_length
from keyraft.app.server.watches import Change, RevisionChanges, Watch

EVENTS_STEP = 500
EVENT_CACHE_ENTRIES = 65_536
EVENT_CACHE_BYTES = 64 * 1024 * 1024
_ENTRY_OVERHEAD = 200  # a rough size of an entry's dicts and key tuple


class EventCache:
    """Encoded events, least recently used evicted first, bounded in count and bytes."""

    def __init__(
        self, max_entries: int = EVENT_CACHE_ENTRIES, max_bytes: int = EVENT_CACHE_BYTES
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.encodings = 0  # events encoded (cache misses)
        self._entries: OrderedDict[tuple, tuple[dict, int]] = OrderedDict()
        self._bytes = 0

    def event(self, watch: Watch, change: Change, with_previous: bool) -> dict:
        kv = change.kv
        key = (kv.mod_revision, kv.key, change.deleted, with_previous)
        entries = self._entries
        found = entries.get(key)
        if found is not None:
            entries.move_to_end(key)
            return found[0]
        encoded: dict = {}
        if change.deleted:
            encoded["type"] = "DELETE"
        encoded["kv"] = key_value(kv)
        cost = _ENTRY_OVERHEAD + len(kv.key) + len(kv.value)
        if with_previous:
            previous = watch.previous(change)
            if previous is not None:
                encoded["prev_kv"] = key_value(previous)
                cost += len(previous.key) + len(previous.value)
        self.encodings += 1
        entries[key] = (encoded, cost)
        self._bytes += cost
        while len(entries) > self.max_entries or (
            self._bytes > self.max_bytes and len(entries) > 1
        ):
            _key, (_encoded, evicted) = entries.popitem(last=False)
            self._bytes -= evicted
        return encoded

    async def events(self, watch: Watch, batch: RevisionChanges) -> list[dict]:
        """A batch's events, encoded a step at a time (one revision may hold 100,000
        changes: a prefix deleted), letting the event loop run between steps."""
        with_previous = watch.prev_kv
        encoded: list[dict] = []
        for _revision, changes in batch:
            for start in range(0, len(changes), EVENTS_STEP):
                if encoded:
                    await asyncio.sleep(0)
                encoded.extend(
                    self.event(watch, change, with_previous)
                    for change in changes[start : start + EVENTS_STEP]
                )
        return encoded


_CACHES: weakref.WeakKeyDictionary[EtcdServer, EventCache] = weakref.WeakKeyDictionary()


def cache_for(server: EtcdServer) -> EventCache:
    """The event cache of a server (one per server: revisions are per cluster)."""
    cache = _CACHES.get(server)
    if cache is None:
        cache = _CACHES[server] = EventCache()
    return cache


def server_header(server: EtcdServer, revision: int | None = None) -> dict:
    """The response header for `revision` (None: the current one); the one place stream
    answers take it from the server."""
    return codec.header(server, server.current_revision if revision is None else revision)


def header_json(header: dict) -> dict:
    return {name: str(value) for name, value in header.items() if value}


def response(header: dict, watch_id: int = 0, **fields: object) -> dict:
    """A WatchResponse in proto field order, zero values omitted."""
    result: dict = {"header": header_json(header)}
    if watch_id:
        result["watch_id"] = str(watch_id)
    for name in ("created", "canceled"):
        if fields.get(name):
            result[name] = True
    if fields.get("compact_revision"):
        result["compact_revision"] = str(fields["compact_revision"])
    if fields.get("cancel_reason"):
        result["cancel_reason"] = fields["cancel_reason"]
    if fields.get("fragment"):
        result["fragment"] = True
    if fields.get("events"):
        result["events"] = fields["events"]
    return result


def fragments(header: dict, watch_id: int, events: list[dict], limit: int) -> list[dict]:
    """The responses for `events` of a watch created with `fragment`, as etcd's
    sendFragments cuts them: whole if under `limit` bytes as protobuf (the server's
    --max-request-bytes plus gRPC's overhead) or a single event; else in pieces, each
    piece as many events as stay under the limit (at least one), all but the last
    marked `fragment`."""
    whole = response(header, watch_id, events=events)
    if len(events) < 2 or protobuf_size(whole) < limit:
        return [whole]
    base = protobuf_size(response(header, watch_id, fragment=True))
    pieces: list[dict] = []
    start = 0
    while start < len(events):
        size, end = base, start
        while end < len(events):
            event_size = embedded_size(protobuf_size(events[end]))
            if end > start and size + event_size >= limit:
                break
            size += event_size
            end += 1
        last = end == len(events)
        pieces.append(response(header, watch_id, events=events[start:end], fragment=not last))
        start = end
    return pieces


# The JSON fields of a WatchResponse (and its header, events, key-values) that protobuf
# encodes as bytes (base64 in JSON); the others are varints (numbers as strings), bools,
# enums (an event's type: only DELETE is not the zero value), strings or messages.
_BYTES_FIELDS = frozenset(("key", "value"))


def protobuf_size(message: dict) -> int:
    """The protobuf size of a response in its JSON form (one-byte tags)."""
    size = 0
    for name, value in message.items():
        if isinstance(value, dict):
            size += embedded_size(protobuf_size(value))
        elif isinstance(value, list):
            size += sum(embedded_size(protobuf_size(item)) for item in value)
        elif value is True or name == "type":  # a bool, or DELETE (enum 1)
            size += 2
        elif name in _BYTES_FIELDS:
            length = len(value) * 3 // 4 - (len(value) - len(value.rstrip("=")))
            size += embedded_size(length)
        elif name == "cancel_reason":
            size += embedded_size(len(value.encode()))
        else:
            size += 1 + varint_length(int(value))
    return size
