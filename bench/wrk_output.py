"""What one wrk run measured, read from its `--latency` output.

The result is a float (requests/s) so that callers which add, divide or print rates keep
working, and it carries the latency percentiles and the request count beside it.
"""

from __future__ import annotations

import re

# wrk prints latencies with the unit it found readable (format_time in wrk's units.c).
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)


class WrkResult(float):
    """Requests/s, with p50 and p99 latency in ms, the requests done and the socket errors
    (connect, read, write, timeout: wrk leaves timed-out requests out of its latencies)."""

    p50_ms: float
    p99_ms: float
    requests: int
    socket_errors: int

    def __new__(
        cls, rate: float, p50_ms: float, p99_ms: float, requests: int = 0, socket_errors: int = 0
    ) -> WrkResult:
        result = super().__new__(cls, rate)
        result.p50_ms = p50_ms
        result.p99_ms = p99_ms
        result.requests = requests
        result.socket_errors = socket_errors
        return result

    def __repr__(self) -> str:
        return (
            f"WrkResult({float(self):.1f} req/s, p50 {self.p50_ms:.2f} ms, "
            f"p99 {self.p99_ms:.2f} ms, {self.requests} requests, "
            f"{self.socket_errors} socket errors)"
        )


def latency_ms(text: str) -> float:
    """'812.00us', '4.36ms', '1.02s', '1.50m' in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk latency: {text!r}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def parse_wrk(stdout: str) -> WrkResult:
    """The figures of a `wrk --latency` run; ValueError if the output has none."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", stdout, re.MULTILINE)
    percentiles = {
        int(p): latency_ms(value + unit) for p, value, unit in _PERCENTILE.findall(stdout)
    }
    if not rate or set(percentiles) != {50, 99}:
        raise ValueError(f"no rate or latency distribution in wrk's output:\n{stdout}")
    requests = re.search(r"^\s*(\d+) requests in", stdout, re.MULTILINE)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", stdout
    )
    return WrkResult(
        float(rate.group(1)),
        percentiles[50],
        percentiles[99],
        int(requests.group(1)) if requests else 0,
        sum(int(count) for count in errors.groups()) if errors else 0,
    )


def combined(results: list[WrkResult]) -> WrkResult:
    """Concurrent runs against several servers as one: rates and requests add; the
    percentiles are the worst run's (an upper bound: wrk reports no histogram to merge)."""
    return WrkResult(
        sum(results),
        max(result.p50_ms for result in results),
        max(result.p99_ms for result in results),
        sum(result.requests for result in results),
        sum(result.socket_errors for result in results),
    )
