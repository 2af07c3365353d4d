"""Go's duration syntax (`time.ParseDuration`), which etcd's duration flags take:
"10m", "1.5s", "1h30m", "300ms", "0"."""

from __future__ import annotations

import re

import click

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)?")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration; ValueError with Go's message if it is none."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    total, position = 0.0, 0
    while position < len(body):
        match = _PART.match(body, position)
        if match is None:
            raise ValueError(f'time: invalid duration "{text}"')
        if match.group(2) is None:
            raise ValueError(f'time: missing unit in duration "{text}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not body:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


class GoDuration(click.ParamType):
    """A click option taking a Go duration, giving seconds."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)
