"""The bench figures, from sample outputs (no servers): bench.wrk_output reads wrk's
--latency report (rate, p50/p99 in ms whatever unit wrk chose, requests, socket errors);
bench.perf_report's verdict and its markdown table of every figure."""

from __future__ import annotations

import pytest

from bench.ab import pair_order, ratios
from bench.perf_report import Report, verdict
from bench.workloads import Sample
from bench.wrk_output import WrkResult, combined, latency_ms, parse_wrk

SAMPLE = """Running 1s test @ http://127.0.0.1:28777/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.36ms    2.55ms  19.30ms   80.52%
    Req/Sec     0.93k   214.08     1.20k    60.00%
  Latency Distribution
     50%  {p50}
     75%    5.62ms
     90%    7.63ms
     99%  {p99}
  928 requests in 1.00s, 345.28KB read
{errors}Requests/sec:    927.12
Transfer/sec:    344.95KB
"""


def sample(p50: str = "3.61ms", p99: str = "12.99ms", errors: str = "") -> str:
    return SAMPLE.format(p50=p50, p99=p99, errors=errors)


def test_rate_percentiles_and_requests() -> None:
    result = parse_wrk(sample())
    assert float(result) == pytest.approx(927.12)
    assert (result.p50_ms, result.p99_ms) == (pytest.approx(3.61), pytest.approx(12.99))
    assert result.requests == 928
    assert result.socket_errors == 0


@pytest.mark.parametrize(
    ("text", "ms"),
    [("812.00us", 0.812), ("4.36ms", 4.36), ("1.02s", 1020.0), ("1.50m", 90_000.0)],
)
def test_units(text: str, ms: float) -> None:
    assert latency_ms(text) == pytest.approx(ms)


def test_mixed_units_in_one_report() -> None:
    result = parse_wrk(sample(p50="950.12us", p99="1.20s"))
    assert result.p50_ms == pytest.approx(0.95012)
    assert result.p99_ms == pytest.approx(1200.0)


def test_socket_errors_are_summed() -> None:
    errors = "  Socket errors: connect 0, read 2, write 1, timeout 37\n"
    assert parse_wrk(sample(errors=errors)).socket_errors == 40


def test_output_without_a_distribution_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")
    with pytest.raises(ValueError):
        latency_ms("12 ms")


def test_result_is_still_a_rate() -> None:
    """Callers that add, divide and format rates keep working."""
    one, two = WrkResult(100.0, 1.0, 5.0, 1000), WrkResult(300.0, 2.0, 3.0, 3000)
    assert one + two == 400.0
    assert f"{two / one:.1f}" == "3.0"
    both = combined([one, two])
    assert (float(both), both.p50_ms, both.p99_ms, both.requests) == (400.0, 2.0, 5.0, 4000)


def _sample(rate: float, p99: float, cpu: float = 100.0, socket_errors: int = 0) -> Sample:
    return Sample(WrkResult(rate, p99 / 2, p99, int(rate * 10), socket_errors), cpu)


def test_verdict_met_only_when_every_round_and_the_p99_are() -> None:
    etcd = [_sample(1000, 20), _sample(1000, 20), _sample(1000, 20)]
    assert verdict(etcd, [_sample(1600, 10), _sample(1500, 30), _sample(2000, 10)]) == "met"
    missed = verdict(etcd, [_sample(1600, 10), _sample(1400, 30), _sample(2000, 10)])
    assert missed == "missed: throughput < 1.5x in round 2 (min 1.40x)"
    assert "p99 30.0 > 20.0 ms" in verdict(etcd, [_sample(2000, 30)] * 3)


def test_report_pairs_rounds_both_finished_and_ends_with_markdown(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = Report(rounds=2, duration=10, connections=64)
    report.add_sample("put-leader", "etcd", 1, _sample(1000, 20))
    report.add_sample("put-leader", "keyraft", 1, _sample(1600, 10, socket_errors=3))
    report.add_sample("put-leader", "etcd", 2, _sample(1000, 20))  # keyraft's run failed
    report.add_scale("put by connections", "16", "etcd", _sample(500, 5))
    with report.section("scale"):
        raise RuntimeError("wrk failed: boom")
    report.add_figure("peak RSS MiB", {"peak RSS MiB (sum)": 200.0}, {"peak RSS MiB (sum)": 300.0})
    report.print_summary()
    output = capsys.readouterr().out
    table = output[output.index("| figure |") :]
    assert "| put-leader: req/s | 1000 | 1600 | 1.60 | met (rounds 1.60); socket errors" in table
    assert "| peak RSS MiB | 200 | 300 | 1.50 |  |" in table
    assert "put by connections" not in table  # measured on etcd only
    assert table.rstrip().endswith("scale failed: RuntimeError: wrk failed: boom")


def test_ab_ratios_are_medians_of_pairs_run_back_to_back() -> None:
    a = [Sample(WrkResult(rate, 1.0, 2.0), cpu) for rate, cpu in ((100, 10), (200, 10), (50, 8))]
    b = [Sample(WrkResult(rate, 1.0, 2.0), cpu) for rate, cpu in ((110, 9), (180, 10), (60, 6))]
    # Pairwise: throughput 1.1, 0.9, 1.2; CPU 0.9, 1.0, 0.75: the medians, not a ratio of means.
    assert ratios(a, b) == pytest.approx((1.1, 0.9))
    assert [pair_order(n) for n in range(4)] == ["AB", "BA", "AB", "BA"]
