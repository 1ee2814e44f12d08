from __future__ import annotations

import re
from dataclasses import replace

import pytest

from agui_perf.gate.decide.budgets import check_budgets
from agui_perf.gate.decide.compare import State, compare
from agui_perf.gate.decide.verdict import decide, error_verdict
from agui_perf.gate.report.markdown import (
    format_bytes,
    format_change,
    format_count,
    format_duration,
    format_interval,
    format_relative,
    headline,
    md_escape,
    render_markdown,
    timing_table,
)
from agui_perf.gate.store.config import Settings
from tests._support.results import make_results
from tests._support.verdicts import (
    EVIL,
    FOUND,
    LOST,
    SETTINGS,
    passing_verdict,
    sample_results,
    sample_verdict,
    spread,
)


def test_headline_is_the_first_line() -> None:
    text = render_markdown(sample_verdict())
    first = text.splitlines()[0]
    assert first.startswith("## ❌ FAIL — 1 timing regression (encode\\_many +18.2 %)")
    assert "1 memory regression (account\\_analysis)" in first
    assert "1 budget breach (latency\\_p95\\_ms on stream\\_paced)" in first


def test_passing_headline() -> None:
    verdict = passing_verdict()
    assert headline(verdict) == "✅ PASS — no failing regression — 2 unchanged"
    assert headline(verdict, icon=False).startswith("PASS — ")
    text = render_markdown(verdict)
    assert text.startswith("## ✅ PASS")
    assert "All 2 benchmarks are unchanged." in text
    assert "No budget is configured" in text


def test_error_verdict_names_the_error_and_has_no_tables() -> None:
    verdict = error_verdict("baseline 'x.json' is not valid JSON — run nox -s update-baseline")
    text = render_markdown(verdict)
    assert text.startswith("## ⚠️ ERROR — baseline 'x.json' is not valid JSON")
    assert "| Benchmark |" not in text
    assert "nox -s perf" in text


def test_timing_table_names_the_rule_and_the_statistic_and_says_not_significant() -> None:
    text = render_markdown(sample_verdict())
    assert (
        "The sequential rank-interval rule: a regression needs the one-sided Mann-Whitney U "
        "test significant at alpha 0.01 after Holm over 5 benchmarks, the lower bound of the "
        "Hodges-Lehmann ratio (one-sided at 0.002, so the 5 bounds hold together at 99 %) above "
        "+5 %, and the estimate above +8.75 %. A first pass that could still be a regression is "
        "extended once by 16 more fresh processes a side (8 when the first pass's spread says "
        "16 pooled detect a change of 10 %) and decided once on all of them pooled."
    ) in text
    assert (
        "| Benchmark | Baseline | Current | Change | Bounds (99 %, together) | Detectable "
        "| p (Holm) | State |"
    ) in text
    row = next(line for line in text.splitlines() if line.startswith("| encode\\_many |"))
    assert "| 2.10 ms | 2.48 ms | +18.2 % | +15.9 % … +20.6 % | ±9.4 % |" in row
    assert "🔴 regression" in row
    assert re.search(r"p = [0-9.e-]+ \(slower\) \|", row)
    paced = next(line for line in text.splitlines() if line.startswith("| stream\\_paced |"))
    assert "not significant" in paced
    assert "🟡 inconclusive" in paced
    assert (
        "- stream\\_paced: slower by \\~15.4 %, beyond the minimum effect but not significant: "
        "too noisy at this spread and number of processes to call"
    ) in text


def test_the_run_says_what_it_could_and_could_not_see() -> None:
    text = render_markdown(sample_verdict())
    assert (
        "**This run would have failed on a slowdown of +9.4 % (\\<script\\>alert(1)\\</script\\>) "
        "to +35.3 % (stream\\_paced) or more with 95 % probability (1 of 5 too noisy to catch "
        "1.25 times the minimum effect).**"
    ) in text


def test_every_benchmark_has_a_row_and_unchanged_ones_are_folded() -> None:
    text = render_markdown(sample_verdict())
    for name in ("encode\\_many", "encode\\_one", "new\\_bench", "old\\_bench", "verify\\_many"):
        assert f"| {name} |" in text
    details = text.index("<summary>2 unchanged benchmarks</summary>")
    assert text.index("| verify\\_many |") > details > text.index("| encode\\_many |")
    assert "🆕" not in text  # new/removed are marked by tone, not by a per-state icon
    assert "| new\\_bench | — | 3.99 µs | — | — | — | no test | 🔵 new |" in text


def test_untrusted_names_are_escaped() -> None:
    text = render_markdown(sample_verdict())
    assert EVIL not in text
    assert "| \\<script\\>alert(1)\\</script\\> |" in text
    assert "“stream: coalesce \\<b\\>ready\\</b\\> events \\| faster”" in text


def test_memory_table_and_grown_sites() -> None:
    text = render_markdown(sample_verdict())
    assert "| Scenario | Peak memory | Allocations | Leaked (current) | State |" in text
    assert (
        "| account\\_analysis | 11.9 MiB → 12.5 MiB (+4.8 %) | 48,000 → 51,000 (+6.2 %) "
        "| 0 B | 🔴 regression |"
    ) in text
    assert "<details open>\n<summary>Allocation sites that grew most — account\\_analysis" in text
    assert (
        "| src/agui\\_perf/stream/encoder.py:41 | encode | 391 KiB → 928 KiB | +537 KiB | +1,200 |"
    ) in text


def test_budget_matrix_groups_by_budget_worst_first_the_rest_folded() -> None:
    text = render_markdown(sample_verdict())
    section = text[text.index("### Budgets") : text.index("### Accepted state")]
    shown, folded = section.split("<details>")
    rows = [line for line in shown.splitlines() if line.startswith("| ")]
    assert rows == [
        "| Budget | Measured on | Target | Actual | Margin | Status |",
        # The breach first, then what nothing measured, then the least headroom.
        "| event latency, p95 (latency\\_p95\\_ms) | stream\\_paced (worst of 2) | ≤ 300 ms "
        "| 320 ms | × 1.07 over budget | 🔴 fail |",
        "| error rate (error\\_rate\\_max) | not measured | ≤ 0.05 | — | — | 🟡 not measured |",
        "| event latency, mean (latency\\_mean\\_ms) | stream\\_paced (worst of 2) | ≤ 200 ms "
        "| 180 ms | × 1.11 under budget | ✅ pass |",
    ]
    assert "<summary>2 more passing checks, each within its budget</summary>" in folded
    assert "| 31 ms | × 9.68 under budget | ✅ pass |" in folded
    assert "| 12.5 ms | × 16 under budget | ✅ pass |" in folded
    assert " %" not in section  # margins are factors, never a percentage of the target


def test_every_breach_of_a_budget_stays_unfolded() -> None:
    base, current = sample_results()
    current = replace(
        current,
        benchmarks={
            name: replace(bench, extra_info={**bench.extra_info, "latency_p95_ms": 301.0})
            if name == EVIL
            else bench
            for name, bench in current.benchmarks.items()
        },
    )
    checks = check_budgets(current, {"latency_p95_ms": 300.0})
    verdict = decide(compare(base, current, SETTINGS, accepted_found=True), checks, FOUND, SETTINGS)
    section = render_markdown(verdict).split("### Budgets")[1].split("###")[0]
    assert "<details>" not in section  # nothing passed, nothing to fold
    assert section.count("🔴 fail") == 2
    assert section.index("× 1.07 over budget") < section.index("× 1.003 over budget")


def test_accepted_state_found_and_how_to_accept() -> None:
    text = render_markdown(sample_verdict())
    assert "The accepted state is commit 0123456789ab (2026-05-02T10:11:12+00:00)" in text
    assert "baselines/linux-x86\\_64-cpython3.11.json" in text
    assert "run `nox -s update-baseline` and commit the changed" in text
    assert "`report.html`" in text
    assert "perf-report" in text


def test_accepted_state_not_found_says_timing_is_advisory() -> None:
    text = render_markdown(sample_verdict(LOST))
    assert (
        "> [!WARNING]\n> The commit that last changed baselines/linux-x86\\_64-cpython3.11.json "
        "could not be found (shallow clone: no commit touches the baseline file)."
    ) in text
    assert "advisory only" in text
    assert "🟡 regression (advisory)" in text


def test_no_inline_svg_or_data_uri() -> None:
    # GitHub strips both from job summaries (GitHub sanitizes them); charts live in report.html.
    text = render_markdown(sample_verdict())
    assert "<svg" not in text
    assert "data:" not in text
    assert "<img" not in text


def test_new_states_and_the_extension_are_shown() -> None:
    verdict = sample_verdict()
    assert verdict.comparison is not None
    regression = verdict.comparison.benchmark("encode_many")
    extended = replace(
        regression,
        baseline_samples=regression.baseline_samples * 3,
        current_samples=regression.current_samples * 3,
        first_pass=regression,
    )
    slower = replace(regression, state=State.SLOWER)
    faster = replace(regression, state=State.FASTER)
    rows = timing_table([extended, slower, faster]).rows
    assert rows[0].cells[-1] == "regression, extended: 8 + 16 processes pooled"
    assert (rows[0].tone, rows[1].tone, rows[2].tone) == ("bad", "warn", "good")
    assert rows[1].cells[-1] == "slower"
    assert rows[2].cells[-1] == "faster"


def test_slower_is_counted_in_the_passing_headline_and_explained() -> None:
    base = make_results({"a": spread(1.0), "b": spread(2.0)})
    current = make_results({"a": spread(1.04), "b": spread(2.0)})
    comparison = compare(base, current, Settings(), accepted_found=True)
    assert comparison.benchmark("a").state is State.SLOWER
    verdict = decide(comparison, check_budgets(current, {}), FOUND, Settings())
    assert headline(verdict) == "✅ PASS — no failing regression — 1 slower, 1 unchanged"
    text = render_markdown(verdict)
    assert "| a | 998 ms | 1.04 s | +4.0 % | +2.3 % … +5.7 % | ±9.4 % |" in text
    assert "🟡 slower |" in text
    assert (
        "- a: slower by \\~4.0 %: significant, below what this run can call a regression (the "
        "estimate is within +8.75 %)"
    ) in text


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("a|b", "a\\|b"),
        ("`x`", "\\`x\\`"),
        ("*bold* _it_", "\\*bold\\* \\_it\\_"),
        ("[x](http://e)", "\\[x\\](http://e)"),
        ("<b>&amp;", "\\<b\\>\\&amp;"),
        ("$x$ ~~s~~", "\\$x\\$ \\~\\~s\\~\\~"),
        ("line\nbreak\r\tx", "line break x"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_md_escape(text: str, escaped: str) -> None:
    assert md_escape(text) == escaped


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (812e-9, "812 ns"),
        (12.34e-6, "12.3 µs"),
        (4.561e-3, "4.56 ms"),
        (0.9996e-3, "1.00 ms"),
        (1.2, "1.20 s"),
        (125.0, "125 s"),
        (999.6e-9, "1.00 µs"),
        (0.0, "0 ns"),
        (None, "—"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("count", "signed", "text"),
    [
        (512, False, "512 B"),
        (1536, False, "1.50 KiB"),
        (12.3 * 1024 * 1024, False, "12.3 MiB"),
        (3 * 1024**3, False, "3.00 GiB"),
        (-2048, True, "-2.00 KiB"),
        (100, True, "+100 B"),
        (None, False, "—"),
    ],
)
def test_format_bytes(count: float | None, signed: bool, text: str) -> None:
    assert format_bytes(count, signed=signed) == text


def test_format_changes_and_counts() -> None:
    assert format_change(1.182) == "+18.2 %"
    assert format_change(0.8) == "-20.0 %"
    assert format_change(None) == "—"
    assert format_relative(0.048) == "+4.8 %"
    assert format_interval((1.12, 1.25)) == "+12.0 % … +25.0 %"
    assert format_interval(None) == "—"
    assert format_count(1234567) == "1,234,567"
    assert format_count(300, signed=True) == "+300"
