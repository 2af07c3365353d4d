"""etcd's watch responses in JSON, built once per change and shared by every watcher."""

from __future__ import annotations

import orjson

from keyraft.app.codec import key_value
from keyraft.storage.mvcc.store import Change
from keyraft.storage.mvcc.watch import Batch, Watcher, WatchHub


def event(hub: WatchHub, change: Change, with_previous: bool) -> dict:
    cached = change.encoded.get(with_previous)
    if cached is None:
        cached = {}
        if change.deleted:
            cached["type"] = "DELETE"
        cached["kv"] = key_value(change.kv)
        if with_previous:
            previous = hub.previous(change)
            if previous is not None:
                cached["prev_kv"] = key_value(previous)
        change.encoded[with_previous] = cached
    return cached


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
    if fields.get("events"):
        result["events"] = fields["events"]
    return result


def events_of(hub: WatchHub, watcher: Watcher, batch: Batch) -> list[dict]:
    return [
        event(hub, change, watcher.prev_kv) for _revision, changes in batch for change in changes
    ]


def line(result: dict) -> bytes:
    return orjson.dumps({"result": result}) + b"\n"
