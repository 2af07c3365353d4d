"""`-w table`, as etcdctl 3.4 draws it (olekukonko/tablewriter with right-aligned cells).

etcdctl has a table only for member list, the endpoint commands and snapshot status; for every other
command it answers "table not supported as output format" (exit 4) once the request has
been served, which the base `Printer` does. The drawing: a border line of `+` and `-`, the
header centred, cells right-aligned with one space of padding, and a cell longer than 30
characters wrapped at its spaces onto more lines.
"""

from __future__ import annotations

from keyraft.ctl.output.base import Health, Printer, Status, number, write
from keyraft.ctl.output.tables import (
    MEMBER_HEADER,
    SNAPSHOT_HEADER,
    STATUS_HEADER,
    endpoint_status_rows,
    member_rows,
    snapshot_row,
)

# tablewriter's MAX_ROW_WIDTH: longer cells are wrapped at spaces.
WRAP_WIDTH = 30


def _wrap(cell: str) -> list[str]:
    """A cell's lines, as tablewriter wraps it (words kept whole, joined by a space)."""
    if len(cell) <= WRAP_WIDTH:
        return [cell]
    lines: list[str] = []
    for word in cell.split():
        if lines and len(lines[-1]) + 1 + len(word) <= WRAP_WIDTH:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def render(header: list[str], rows: list[list[str]]) -> str:
    """The table as etcdctl prints it."""
    wrapped = [[_wrap(cell) for cell in row] for row in rows]
    widths = [len(name) for name in header]
    for row in wrapped:
        for column, lines in enumerate(row):
            widths[column] = max(widths[column], *(len(line) for line in lines))
    border = "+" + "+".join("-" * (width + 2) for width in widths) + "+"

    def centred(text: str, width: int) -> str:
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)

    out = [border, "| " + " | ".join(map(centred, header, widths)) + " |", border]
    for row in wrapped:
        for index in range(max(len(lines) for lines in row)):
            cells = [lines[index] if index < len(lines) else "" for lines in row]
            out.append(
                "| "
                + " | ".join(cell.rjust(w) for cell, w in zip(cells, widths, strict=True))
                + " |"
            )
    out.append(border)
    return "\n".join(out)


class TablePrinter(Printer):
    name = "table"

    def __init__(self, hex_output: bool = False) -> None:
        self.hex_output = hex_output

    def member_list(self, response: dict) -> None:
        write(render(MEMBER_HEADER, member_rows(response)))

    def endpoint_health(self, results: list[Health]) -> None:
        rows = [
            [result.endpoint, "true" if result.healthy else "false", result.took, result.error]
            for result in results
        ]
        write(render(["ENDPOINT", "HEALTH", "TOOK", "ERROR"], rows))

    def snapshot_status(self, found: dict) -> None:
        write(render(SNAPSHOT_HEADER, [snapshot_row(found)]))

    def endpoint_hashkv(self, results: list[Status]) -> None:
        rows = [[result.endpoint, str(number(result.response.get("hash")))] for result in results]
        write(render(["ENDPOINT", "HASH"], rows))

    def endpoint_status(self, results: list[Status]) -> None:
        write(render(STATUS_HEADER, endpoint_status_rows(results)))
