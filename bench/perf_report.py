"""The figures bench.perf gathers, printed as they come and summed up at the end: plain
tables for reading, then one markdown table of every figure for pasting into notes."""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from bench.workloads import Sample

THROUGHPUT_GOAL = 1.5  # keyraft's requests/s over etcd's, in every round


@dataclass(frozen=True, slots=True)
class Row:
    figure: str
    etcd: float
    keyraft: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.keyraft / self.etcd if self.etcd else float("nan")


def _figure(value: float) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"


def verdict(etcd: list[Sample], keyraft: list[Sample]) -> str:
    """'met' when keyraft had >= 1.5x etcd's throughput in every round and its median p99
    is no worse than etcd's; otherwise what missed."""
    missed = []
    ratios = [k.result / e.result for e, k in zip(etcd, keyraft, strict=True)]
    short = [str(index + 1) for index, ratio in enumerate(ratios) if ratio < THROUGHPUT_GOAL]
    if short:
        missed.append(
            f"throughput < {THROUGHPUT_GOAL}x in round {','.join(short)} (min {min(ratios):.2f}x)"
        )
    etcd_p99 = statistics.median(s.result.p99_ms for s in etcd)
    keyraft_p99 = statistics.median(s.result.p99_ms for s in keyraft)
    if keyraft_p99 > etcd_p99:
        missed.append(f"p99 {keyraft_p99:.1f} > {etcd_p99:.1f} ms")
    return "met" if not missed else "missed: " + "; ".join(missed)


@dataclass
class Report:
    rounds: int
    duration: int
    connections: int
    samples: dict[str, dict[str, list[Sample]]] = field(default_factory=dict)
    scale: dict[str, dict[str, dict[str, Sample]]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    figures: list[Row] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[None]:
        """A part of the run whose failure is reported at the end instead of losing the
        figures the other parts gathered."""
        try:
            yield
        except Exception as error:  # noqa: BLE001 - reported with the figures
            message = f"{name} failed: {type(error).__name__}: {error}"
            self.failures.append(message.splitlines()[0][:300])
            print(message, flush=True)

    def add_sample(self, workload: str, kind: str, round_number: int, sample: Sample) -> None:
        self.samples.setdefault(workload, {}).setdefault(kind, []).append(sample)
        print(f"round {round_number} {workload:<20}{kind:<9}{_line(sample)}", flush=True)

    def add_scale(self, table: str, point: str, kind: str, sample: Sample) -> None:
        self.scale.setdefault(table, {}).setdefault(point, {})[kind] = sample
        print(f"scale {table}: {point:<8}{kind:<9}{_line(sample)}", flush=True)

    def describe(self, workload: str, description: str) -> None:
        self.descriptions[workload] = description

    def add_figure(self, figure: str, etcd: dict[str, float], keyraft: dict[str, float]) -> None:
        for name, value in etcd.items():
            self.figures.append(
                Row(figure if len(etcd) == 1 else f"{figure}: {name}", value, keyraft[name])
            )

    def add_watch(
        self, watchers: int, puts: int, etcd: dict[str, float], keyraft: dict[str, float]
    ) -> None:
        prefix = f"watch, {watchers} watchers on 3 members, {puts} puts"
        for name in ("p50 ms (ack)", "p99 ms (ack)", "p50 ms (request)", "p99 ms (request)"):
            self.figures.append(Row(f"{prefix}: {name}", etcd[name], keyraft[name]))
        missing = etcd["missing events"], keyraft["missing events"]
        note = "EVENTS LOST" if missing[1] else "ok"
        self.figures.append(Row(f"{prefix}: missing events", *missing, note))

    def paired(self) -> Iterator[tuple[str, list[Sample], list[Sample]]]:
        """Each workload's etcd and keyraft samples, of the rounds both finished."""
        for workload, kinds in self.samples.items():
            count = min(len(kinds.get("etcd", [])), len(kinds.get("keyraft", [])))
            if count:
                yield workload, kinds["etcd"][:count], kinds["keyraft"][:count]

    def workload_rows(self) -> list[Row]:
        rows = []
        for workload, etcd, keyraft in self.paired():
            ratios = "/".join(
                f"{k.result / e.result:.2f}" for e, k in zip(etcd, keyraft, strict=True)
            )
            name = workload
            rows += [
                Row(f"{name}: req/s", *_medians(etcd, keyraft, lambda s: s.result),
                    f"{verdict(etcd, keyraft)} (rounds {ratios}){_errors(etcd, keyraft)}"),
                Row(f"{name}: p99 ms", *_medians(etcd, keyraft, lambda s: s.result.p99_ms)),
                Row(f"{name}: p50 ms", *_medians(etcd, keyraft, lambda s: s.result.p50_ms)),
                Row(f"{name}: server CPU us/req", *_medians(etcd, keyraft, lambda s: s.cpu_us)),
            ]  # fmt: skip
        return rows

    def scale_rows(self) -> list[Row]:
        rows = []
        for table, points in self.scale.items():
            for point, kinds in _complete(points):
                etcd, keyraft = kinds["etcd"], kinds["keyraft"]
                rows += [
                    Row(
                        f"{table}: {point}: req/s",
                        etcd.result,
                        keyraft.result,
                        _errors([etcd], [keyraft]).removeprefix("; "),
                    ),
                    Row(f"{table}: {point}: p99 ms", etcd.result.p99_ms, keyraft.result.p99_ms),
                ]
        return rows

    def print_summary(self) -> None:
        if self.samples:
            print(
                f"\nMedians over {self.rounds} round(s) of {self.duration} s, {self.connections} "
                "connections; CPU is the servers' (all members) per request."
            )
        header = (
            f"{'workload':<20}{'etcd/s':>9}{'keyraft/s':>10}{'ratio':>7}"
            f"{'etcd p99':>10}{'kr p99':>9}{'ratio':>7}{'etcd CPU':>10}{'kr CPU':>9}{'ratio':>7}  verdict"
        )
        for workload in self.samples:
            print(f"  {workload}: {self.descriptions.get(workload, '')}")
        if self.samples:
            print(header)
        for workload, etcd, keyraft in self.paired():
            rate = _medians(etcd, keyraft, lambda s: s.result)
            p99 = _medians(etcd, keyraft, lambda s: s.result.p99_ms)
            cpu = _medians(etcd, keyraft, lambda s: s.cpu_us)
            print(
                f"{workload:<20}{rate[0]:>9.0f}{rate[1]:>10.0f}{rate[1] / rate[0]:>7.2f}"
                f"{p99[0]:>10.1f}{p99[1]:>9.1f}{p99[1] / p99[0]:>7.2f}"
                f"{cpu[0]:>10.0f}{cpu[1]:>9.0f}{cpu[1] / cpu[0]:>7.2f}  {verdict(etcd, keyraft)}"
            )
        for table, points in self.scale.items():
            print(f"\n{table} (one run each)")
            print(
                f"{'':<10}{'etcd/s':>9}{'keyraft/s':>10}{'ratio':>7}{'etcd p99':>10}{'kr p99':>9}{'ratio':>7}"
            )
            for point, kinds in _complete(points):
                etcd, keyraft = kinds["etcd"].result, kinds["keyraft"].result
                print(
                    f"{point:<10}{etcd:>9.0f}{keyraft:>10.0f}{keyraft / etcd:>7.2f}"
                    f"{etcd.p99_ms:>10.1f}{keyraft.p99_ms:>9.1f}{keyraft.p99_ms / etcd.p99_ms:>7.2f}"
                )
        if self.figures:
            print()
            for row in self.figures:
                print(
                    f"{row.figure:<70}{_figure(row.etcd):>9}{_figure(row.keyraft):>9}{_ratio(row.ratio):>7}  {row.note}"
                )
        print("\n" + self.markdown())

    def markdown(self) -> str:
        lines = [
            f"keyraft vs etcd 3.4, same machine, same run; workloads: median of {self.rounds} "
            f"round(s) of {self.duration} s at {self.connections} connections.",
            "",
            "| figure | etcd | keyraft | keyraft/etcd | verdict |",
            "|---|---:|---:|---:|---|",
        ]
        for row in self.workload_rows() + self.scale_rows() + self.figures:
            lines.append(
                f"| {row.figure} | {_figure(row.etcd)} | {_figure(row.keyraft)} | "
                f"{_ratio(row.ratio)} | {row.note} |"
            )
        lines += [f"\n{failure}" for failure in self.failures]
        return "\n".join(lines)


def _medians(
    etcd: list[Sample], keyraft: list[Sample], value: Callable[[Sample], float]
) -> tuple[float, float]:
    return (
        statistics.median(float(value(s)) for s in etcd),
        statistics.median(float(value(s)) for s in keyraft),
    )


def _complete(points: dict[str, dict[str, Sample]]) -> list[tuple[str, dict[str, Sample]]]:
    """The scale points measured on both (a failure may leave one without keyraft)."""
    return [(point, kinds) for point, kinds in points.items() if len(kinds) == 2]


def _errors(etcd: list[Sample], keyraft: list[Sample]) -> str:
    """Socket errors (timeouts mostly: wrk leaves those out of its latencies), if any."""
    counts = [sum(s.result.socket_errors for s in samples) for samples in (etcd, keyraft)]
    return f"; socket errors etcd {counts[0]}, keyraft {counts[1]}" if any(counts) else ""


def _ratio(ratio: float) -> str:
    return "-" if ratio != ratio else f"{ratio:.2f}"  # NaN: nothing to compare with


def _line(sample: Sample) -> str:
    result = sample.result
    errors = f"  {result.socket_errors} socket errors" if result.socket_errors else ""
    return (
        f"{float(result):>9.0f} req/s  p50 {result.p50_ms:>7.2f} ms  p99 {result.p99_ms:>8.2f} ms"
        f"  CPU {sample.cpu_us:>6.0f} us/req{errors}"
    )
