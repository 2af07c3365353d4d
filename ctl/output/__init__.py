"""Printers for `-w simple|json|fields|table`, one module per format.

Every printer takes the gateway's JSON answers unchanged; each format decides how to show
them (`simple`, `json` and `fields` exactly as etcdctl 3.4 prints them).
"""

from __future__ import annotations

from keyraft.ctl.output.base import Printer
from keyraft.ctl.output.fields import FieldsPrinter
from keyraft.ctl.output.json import JsonPrinter
from keyraft.ctl.output.simple import SimplePrinter
from keyraft.ctl.output.table import TablePrinter

FORMATS = ("simple", "json", "fields", "table", "protobuf")  # protobuf: refused


class ProtobufPrinter(Printer):
    """What runs without a server (`snapshot status`): etcdctl has no protobuf for it either."""

    name = "protobuf"


def make_printer(kind: str, hex_output: bool = False, value_only: bool = False) -> Printer:
    if kind == "json":
        return JsonPrinter()
    if kind == "fields":
        return FieldsPrinter()
    if kind == "table":
        return TablePrinter(hex_output)
    if kind == "protobuf":
        return ProtobufPrinter()
    return SimplePrinter(hex_output, value_only)


__all__ = ["FORMATS", "Printer", "make_printer"]
