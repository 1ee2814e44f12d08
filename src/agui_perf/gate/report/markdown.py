"""The verdict as GitHub-flavoured Markdown (`verdict.md`, the job summary, the PR comment).

The one-line verdict comes first; then the timing table (naming the decision rule and the
statistic and saying "not significant" out loud, as pyperf's `compare_to` does; every row says
the smallest change the run could have caught, and each notable row why it has its state), the
memory table with the allocation sites that grew most, the instruction counts, the budget
matrix, the trend across the baseline's history (a sparkline per row), where the accepted
state comes from and how to accept an intended change.

GitHub strips inline `<svg>` and `data:` URIs from job summaries, so no chart is drawn here:
the text points to `report.html` in the artifact instead.

The rows are built once as plain text (`Table`) and rendered here and by `html.py`, so that
the two reports can never disagree about a number. Every string that comes from data
(benchmark names, git subjects, allocation sites) is escaped for Markdown: a `|` would split a
table cell and `<`/`[` would turn a name into markup.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from agui_perf.gate.decide.budgets import BudgetStatus, grouped, margin_text
from agui_perf.gate.decide.compare import POWER, MemoryState, State, format_p, rule_text
from agui_perf.gate.decide.count_compare import CountState
from agui_perf.gate.decide.verdict import Overall

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from agui_perf.gate.decide.budgets import BudgetCheck
    from agui_perf.gate.decide.compare import (
        BenchmarkComparison,
        Comparison,
        MemoryComparison,
        SiteChange,
    )
    from agui_perf.gate.decide.count_compare import CountComparison, CountsComparison
    from agui_perf.gate.decide.verdict import AcceptedState, Verdict
    from agui_perf.gate.store.config import Settings
    from agui_perf.gate.store.history import History

__all__ = [
    "NOTABLE_FIRST",
    "Row",
    "Table",
    "Tone",
    "accepted_text",
    "budget_tables",
    "counts_table",
    "counts_text",
    "folded_summary",
    "format_bytes",
    "format_change",
    "format_count",
    "format_duration",
    "format_interval",
    "format_relative",
    "headline",
    "md_escape",
    "memory_table",
    "reasons",
    "render_markdown",
    "sight_text",
    "sites_table",
    "statistic_text",
    "timing_table",
]

# The name the perf workflow uploads the report directory under (perf.yml, comment.py).
ARTIFACT_NAME = "perf-report"
DASH = "—"

Tone = Literal["bad", "good", "ok", "warn", "neutral", "info"]

_ICONS = {Overall.PASS: "✅", Overall.FAIL: "❌", Overall.ERROR: "⚠️"}
# Markdown marks the state cell with an icon (GitHub renders emoji everywhere); the HTML report
# colours the row instead, since a machine without an emoji font would show empty boxes.
ICONS: dict[Tone, str] = {
    "bad": "🔴",
    "good": "🟢",
    "ok": "✅",
    "warn": "🟡",
    "neutral": "⚪",
    "info": "🔵",
}
_STATE_TONE: dict[State, Tone] = {
    State.REGRESSION: "bad",
    State.IMPROVEMENT: "good",
    State.SLOWER: "warn",
    State.FASTER: "good",
    State.UNCHANGED: "neutral",
    State.INCONCLUSIVE: "warn",
    State.NEW: "info",
    State.REMOVED: "info",
}
_MEMORY_TONE: dict[MemoryState, Tone] = {
    MemoryState.REGRESSION: "bad",
    MemoryState.IMPROVEMENT: "good",
    MemoryState.UNCHANGED: "neutral",
    MemoryState.NEW: "info",
    MemoryState.REMOVED: "info",
    MemoryState.NOT_COMPARABLE: "warn",
}
_BUDGET_TONE: dict[BudgetStatus, Tone] = {
    BudgetStatus.PASS: "ok",
    BudgetStatus.FAIL: "bad",
    BudgetStatus.NOT_MEASURED: "warn",
}
_COUNT_TONE: dict[CountState, Tone] = {
    CountState.REGRESSION: "bad",
    CountState.IMPROVEMENT: "good",
    CountState.SLOWER: "warn",
    CountState.FASTER: "good",
    CountState.UNCHANGED: "neutral",
    CountState.NEW: "info",
    CountState.REMOVED: "info",
    CountState.NOT_MEASURED: "warn",
    CountState.NOT_COMPARABLE: "warn",
}
# Rows that need a reader's attention come first; unchanged ones go behind <details>.
NOTABLE_FIRST = (
    State.REGRESSION,
    State.INCONCLUSIVE,
    State.SLOWER,
    State.IMPROVEMENT,
    State.FASTER,
    State.NEW,
    State.REMOVED,
    State.UNCHANGED,
)


@dataclass(frozen=True)
class Row:
    """One table row as plain text, the state last; `tone` marks the state (icon or colour)."""

    cells: tuple[str, ...]
    tone: Tone = "neutral"


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[Row, ...]
    has_state: bool = True  # the last column is a state


# --- units -------------------------------------------------------------------------------


def _sig3(value: float) -> str:
    """Three significant figures in fixed notation (never "1e+03")."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    rounded = float(f"{value:.3g}")  # 0.9996 -> 1.0, so that it prints "1.00", not "1.000"
    decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:.{decimals}f}"


def format_duration(seconds: float | None) -> str:
    """Seconds in the unit that reads best: 812 ns, 12.3 µs, 4.56 ms, 1.20 s."""
    if seconds is None:
        return DASH
    for scale, unit in ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms")):
        if abs(seconds) < scale * 999.5:
            return f"{_sig3(seconds / scale)} {unit}"
    return f"{_sig3(seconds)} s"


def format_bytes(count: float | None, *, signed: bool = False) -> str:
    """Bytes in binary units: 512 B, 1.50 KiB, 12.3 MiB (1 MiB = 2**20 bytes)."""
    if count is None:
        return DASH
    sign = ("+" if count >= 0 else "-") if signed else ("-" if count < 0 else "")
    size = abs(count)
    if size < 1024:
        return f"{sign}{size:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 999.5 or unit == "GiB":
            return f"{sign}{_sig3(size)} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def format_count(count: float | None, *, signed: bool = False) -> str:
    if count is None:
        return DASH
    return f"{count:+,.0f}" if signed else f"{count:,.0f}"


def format_relative(change: float | None) -> str:
    """A relative change (current / baseline - 1) as "+18.2 %"."""
    return DASH if change is None else f"{change * 100:+.1f} %"


def format_change(ratio: float | None) -> str:
    """A ratio of medians (current / baseline) as a change: 1.182 -> "+18.2 %"."""
    return DASH if ratio is None else format_relative(ratio - 1.0)


def format_interval(interval: tuple[float, float] | None) -> str:
    if interval is None:
        return DASH
    low, high = interval
    return f"{format_change(low)} … {format_change(high)}"


def format_detectable(detectable: float | None) -> str:
    """The smallest slowdown a row could have caught: "±10.4 %"; "—" when none could be."""
    return DASH if detectable is None else f"±{detectable * 100:.1f} %"


def _format_value(value: float, unit: str) -> str:
    text = f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


# --- escaping ------------------------------------------------------------------------------

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones
# that can start markup in the middle of a line: emphasis, code, links and images (`(` and `!`
# only act next to a `[`), HTML and entities, strikethrough, GitHub's `$` math, and `|`, which
# splits GFM table cells even inside code spans.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")
_LINE_BREAKS = re.compile(r"[\r\n\t\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+")


def md_escape(text: str) -> str:
    """Untrusted text as literal Markdown on one line (no markup, no HTML, no cell split)."""
    return _MD_SPECIAL.sub(r"\\\1", _LINE_BREAKS.sub(" ", text))


# --- the pieces ----------------------------------------------------------------------------


def headline(verdict: Verdict, *, icon: bool = True) -> str:
    """The one-line verdict, plain text: "❌ FAIL — 1 timing regression (encode_many +18.2 %)"."""
    word = verdict.overall.value.upper()
    text = verdict.headline.strip()
    # decide() writes "FAIL: …"; the word in capitals and a dash replace that prefix.
    if text.upper().startswith(word):
        text = text[len(word) :].lstrip(" :—-")
    line = f"{word} — {text}" if text else word
    return f"{_ICONS[verdict.overall]} {line}" if icon else line


def statistic_text(comparison: Comparison, settings: Settings | None) -> str:
    """How timing is decided, with the rule and the statistic named."""
    effect = settings.min_effect if settings else 0.10
    processes = settings.processes if settings else None
    effect_text = f"±{effect * 100:g} %"
    return (
        "Baseline and current are medians of per-process medians; the change is the "
        "Hodges-Lehmann estimate (the median of all current/baseline process ratios) with its "
        "distribution-free bounds. "
        + rule_text(comparison.alpha, comparison.family_size, effect, processes)
        + f" Slower/faster: significant, but not a regression/improvement and within "
        f"{effect_text}; inconclusive: beyond {effect_text} but not settled; neither fails "
        f"the run. Detectable: the smallest slowdown this run fails with {POWER * 100:g} % "
        "probability, at the row's own spread."
    )


def sight_text(comparison: Comparison) -> str:
    """What this run could and could not see, one plain-text sentence ("" if none compared)."""
    rows = [b for b in comparison.benchmarks if b.ratio is not None]
    if not rows:
        return ""
    seen = sorted((b for b in rows if b.detectable is not None), key=lambda b: b.detectable or 0)
    over = [b for b in seen if b.detectable is not None and b.detectable > b.min_effect * 1.25]
    blind = [b for b in rows if b.detectable is None]
    if not seen:
        return "No benchmark had enough processes for this run to call a regression."
    least, most = (format_relative(seen[i].detectable) for i in (0, -1))
    text = (
        f"This run would have failed on a slowdown of {least} ({seen[0].name}) to {most} "
        f"({seen[-1].name}) or more with {POWER * 100:g} % probability"
        if len(seen) > 1
        else f"This run would have failed on a slowdown of {least} or more with {POWER * 100:g} % "
        "probability"
    )
    notes = []
    if over:
        notes.append(f"{len(over)} of {len(rows)} too noisy to catch 1.25 times the minimum effect")
    if blind:
        notes.append(f"{len(blind)} with too few processes to call a regression at all")
    return text + (f" ({'; '.join(notes)})." if notes else ".")


def _p_text(bench: BenchmarkComparison) -> str:
    if bench.p_adjusted is None:
        return "no test"
    text = f"p = {format_p(bench.p_adjusted)} ({bench.direction})"
    return text if bench.significant else f"{text}, not significant"


def _state_text(bench: BenchmarkComparison) -> tuple[str, Tone]:
    label, tone = bench.state.value, _STATE_TONE[bench.state]
    if bench.first_pass is not None:
        first = len(bench.first_pass.current_samples)
        label += f", extended: {first} + {len(bench.current_samples) - first} processes pooled"
    if bench.advisory and bench.state in (
        State.REGRESSION,
        State.IMPROVEMENT,
        State.SLOWER,
        State.FASTER,
    ):
        label += " (advisory)"
        tone = "warn" if tone == "bad" else tone
    return label, tone


def timing_table(benchmarks: Iterable[BenchmarkComparison]) -> Table:
    rows = []
    alpha = None
    for bench in benchmarks:
        alpha = bench.alpha
        state, tone = _state_text(bench)
        rows.append(
            Row(
                (
                    bench.name,
                    format_duration(bench.baseline_median),
                    format_duration(bench.current_median),
                    format_change(bench.ratio),
                    format_interval(bench.interval),
                    format_detectable(bench.detectable),
                    _p_text(bench),
                    state,
                ),
                tone,
            )
        )
    bounds = "Bounds" if alpha is None else f"Bounds ({(1 - alpha) * 100:g} %, together)"
    return Table(
        ("Benchmark", "Baseline", "Current", "Change", bounds, "Detectable", "p (Holm)", "State"),
        tuple(rows),
    )


def reasons(benchmarks: Iterable[BenchmarkComparison]) -> list[tuple[str, str]]:
    """(name, why) for each compared row that is not unchanged, in the order given."""
    return [
        (b.name, b.reason)
        for b in benchmarks
        if b.ratio is not None and b.state is not State.UNCHANGED
    ]


def _side_by_side(base: str, cur: str, change: float | None) -> str:
    if change is None:
        return f"{base} → {cur}"
    return f"{base} → {cur} ({format_relative(change)})"


def memory_table(memory: Iterable[MemoryComparison]) -> Table:
    rows = []
    for mem in memory:
        base, cur = mem.baseline, mem.current
        label, tone = mem.state.value, _MEMORY_TONE[mem.state]
        peak = _side_by_side(
            format_bytes(base.peak_bytes if base else None),
            format_bytes(cur.peak_bytes if cur else None),
            mem.peak_change,
        )
        allocs = _side_by_side(
            format_count(base.total_allocations if base else None),
            format_count(cur.total_allocations if cur else None),
            mem.allocations_change,
        )
        leaked = format_bytes(cur.leaked_bytes if cur else None)
        rows.append(Row((mem.scenario, peak, allocs, leaked, label), tone))
    return Table(
        ("Scenario", "Peak memory", "Allocations", "Leaked (current)", "State"), tuple(rows)
    )


def sites_table(sites: Sequence[SiteChange]) -> Table:
    rows = tuple(
        Row(
            (
                site.location,
                site.function,
                f"{format_bytes(site.baseline_bytes)} → {format_bytes(site.current_bytes)}",
                format_bytes(site.delta_bytes, signed=True),
                format_count(site.delta_allocations, signed=True),
            ),
            "bad" if site.delta_bytes > 0 else "neutral",
        )
        for site in sites
    )
    return Table(
        ("Location", "Function", "Bytes", "Δ bytes", "Δ allocations"), rows, has_state=False
    )


def counts_table(rows: Iterable[CountComparison]) -> Table:
    """Instructions per call on each side, notable rows first (the order of CountState)."""
    order = {state: i for i, state in enumerate(CountState)}
    table_rows = []
    for row in sorted(rows, key=lambda r: (order[r.state], r.benchmark)):
        base = row.baseline.per_call if row.baseline else None
        cur = row.current.per_call if row.current else None
        table_rows.append(
            Row(
                (
                    row.benchmark,
                    format_count(base),
                    format_count(cur),
                    format_relative(row.change),
                    row.state.value,
                ),
                _COUNT_TONE[row.state],
            )
        )
    return Table(
        ("Benchmark", "Baseline (instr./call)", "Current (instr./call)", "Change", "State"),
        tuple(table_rows),
    )


def counts_text(counts: CountsComparison, settings: Settings | None) -> str:
    """How instruction counts are decided, in one or two sentences."""
    if not counts.measured:
        return f"Instruction counts: not measured ({counts.reason})."
    if counts.reason:
        return f"Instruction counts: not comparable ({counts.reason})."
    effect = f"{settings.min_effect * 100:g} %" if settings else "the minimum effect"
    tool = f", {counts.tool}" if counts.tool else ""
    return (
        f"Instructions per call of each cpu_bound benchmark under callgrind (one fresh process "
        f"a side{tool}); deterministic, so compared exactly: a change of at least {effect} "
        "(or the benchmark's own minimum effect) fails, a smaller one beyond "
        f"±{counts.repeatability * 100:g} % (the counts' repeatability) is reported as slower "
        "or faster."
    )


def format_factor(check: BudgetCheck) -> str:
    """How far a check is from its target, as a factor: "× 1,600 under budget"."""
    return margin_text(check.kind, check.target, check.actual)


def budget_tables(budgets: Iterable[BudgetCheck]) -> tuple[Table, Table | None]:
    """(shown, folded), grouped by budget with the budget whose worst case is worst first.

    Shown: each budget's worst case ("(worst of N)" when it has several) and every breach or
    unmeasured check. Folded (None when empty): the other passing checks, in the same order.
    """
    shown: list[tuple[BudgetCheck, int]] = []
    folded: list[tuple[BudgetCheck, int]] = []
    for rows in grouped(budgets):
        for i, check in enumerate(rows):
            if i == 0 or check.status is not BudgetStatus.PASS:
                shown.append((check, len(rows) if i == 0 else 1))
            else:
                folded.append((check, 1))
    return budget_table(shown), budget_table(folded) if folded else None


def folded_summary(folded: Table) -> str:
    """The <summary> of the folded budget checks."""
    count = len(folded.rows)
    return f"{count} more passing {'check' if count == 1 else 'checks'}, each within its budget"


def budget_table(checks: Iterable[tuple[BudgetCheck, int]]) -> Table:
    """One row per (check, of how many checks of its budget it is the worst)."""
    rows = []
    for check, of in checks:
        label, tone = check.status.value, _BUDGET_TONE[check.status]
        if check.reason is not None:
            label += f" ({check.reason})"
        target = ("≤ " if check.kind == "max" else "≥ ") + _format_value(check.target, check.unit)
        actual = DASH if check.actual is None else _format_value(check.actual, check.unit)
        subject = check.subject or "not measured"
        if of > 1:
            subject += f" (worst of {of})"
        rows.append(
            Row(
                (
                    f"{check.label} ({check.budget})",
                    subject,
                    target,
                    actual,
                    format_factor(check),
                    label,
                ),
                tone,
            )
        )
    return Table(("Budget", "Measured on", "Target", "Actual", "Margin", "Status"), tuple(rows))


def accepted_text(accepted: AcceptedState) -> tuple[str, bool]:
    """Where the accepted state comes from, as whole sentences; True when it was found."""
    if accepted.found:
        commit = (accepted.commit or "unknown")[:12]
        date = f" ({accepted.date})" if accepted.date else ""
        subject = f" “{accepted.subject}”" if accepted.subject else ""
        return (
            f"The accepted state is commit {commit}{date}{subject}, the last commit that changed "
            f"{accepted.baseline_path}; its code was measured here, beside the current code.",
            True,
        )
    reason = accepted.reason or "the reason is unknown"
    return (
        f"The commit that last changed {accepted.baseline_path} could not be found ({reason}). "
        "Timing is compared with the numbers stored in that file and is advisory only: it "
        "cannot fail this run.",
        False,
    )


# --- Markdown rendering --------------------------------------------------------------------


def _md_table(table: Table) -> list[str]:
    lines = [
        "| " + " | ".join(table.headers) + " |",
        "|" + "|".join("---" for _ in table.headers) + "|",
    ]
    for row in table.rows:
        cells = [md_escape(c) for c in row.cells]
        if table.has_state:
            cells[-1] = f"{ICONS[row.tone]} {cells[-1]}"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _details(summary: str, body: list[str], *, open_: bool = False) -> list[str]:
    # GitHub renders Markdown inside <details> only after a blank line.
    head = "<details open>" if open_ else "<details>"
    return [head, f"<summary>{summary}</summary>", "", *body, "", "</details>"]


def _timing_section(comparison: Comparison, settings: Settings | None) -> list[str]:
    lines = ["### Timing", ""]
    if not comparison.benchmarks:
        return [*lines, "No benchmark was measured.", ""]
    lines += [md_escape(statistic_text(comparison, settings)), ""]
    sight = sight_text(comparison)
    if sight:
        lines += [f"**{md_escape(sight)}**", ""]
    order = {state: i for i, state in enumerate(NOTABLE_FIRST)}
    ordered = sorted(comparison.benchmarks, key=lambda b: (order[b.state], b.name))
    notable = [b for b in ordered if b.state is not State.UNCHANGED]
    unchanged = [b for b in ordered if b.state is State.UNCHANGED]
    if notable:
        lines += _md_table(timing_table(notable))
        why = reasons(notable)
        if why:
            lines += ["", *(f"- {md_escape(name)}: {md_escape(text)}" for name, text in why)]
    else:
        lines.append(f"All {len(unchanged)} benchmarks are unchanged.")
    if unchanged:
        noun = "benchmark" if len(unchanged) == 1 else "benchmarks"
        lines += [
            "",
            *_details(f"{len(unchanged)} unchanged {noun}", _md_table(timing_table(unchanged))),
        ]
    return [*lines, ""]


def _memory_section(memory: Sequence[MemoryComparison]) -> list[str]:
    if not memory:
        return []
    tolerance = f"±{memory[0].tolerance * 100:g} %"
    lines = [
        "### Memory",
        "",
        f"memray in a fresh process per scenario; deterministic, so compared exactly "
        f"(tolerance {tolerance} on peak and allocation count).",
        "",
        *_md_table(memory_table(memory)),
    ]
    reasons = [m for m in memory if m.state is MemoryState.NOT_COMPARABLE and m.reason]
    if reasons:
        lines.append("")
        lines += [f"- {md_escape(m.scenario)}: {md_escape(m.reason)}" for m in reasons]
    for mem in memory:
        if mem.grown_sites:
            lines += [
                "",
                *_details(
                    f"Allocation sites that grew most — {md_escape(mem.scenario)}",
                    _md_table(sites_table(mem.grown_sites)),
                    open_=mem.state is MemoryState.REGRESSION,
                ),
            ]
    return [*lines, ""]


def _counts_section(counts: CountsComparison | None, settings: Settings | None) -> list[str]:
    if counts is None:
        return []
    lines = ["### Instruction counts", "", md_escape(counts_text(counts, settings)), ""]
    if not counts.rows:
        if counts.measured:
            lines += ["No cpu\\_bound benchmark was counted.", ""]
        return lines
    unchanged = [r for r in counts.rows if r.state is CountState.UNCHANGED]
    notable = [r for r in counts.rows if r.state is not CountState.UNCHANGED]
    if notable:
        lines += _md_table(counts_table(notable))
    else:
        lines.append(f"All {len(unchanged)} counted benchmarks are unchanged.")
    if unchanged:
        noun = "benchmark" if len(unchanged) == 1 else "benchmarks"
        lines += [
            "",
            *_details(f"{len(unchanged)} unchanged {noun}", _md_table(counts_table(unchanged))),
        ]
    return [*lines, ""]


def _budget_section(budgets: Sequence[BudgetCheck]) -> list[str]:
    lines = ["### Budgets", ""]
    if not budgets:
        return [*lines, "No budget is configured ([tool.agui\\_perf.budgets]).", ""]
    shown, folded = budget_tables(budgets)
    lines += _md_table(shown)
    if folded is not None:
        lines += ["", *_details(folded_summary(folded), _md_table(folded))]
    return [*lines, ""]


def _trend_section(history: History | None) -> list[str]:
    if history is None:
        return []
    # Imported here: the trend module builds its tables from this module's pieces.
    from agui_perf.gate.report.trend import trend_lead, trend_notes, trend_tables

    lines = ["### Trend", "", md_escape(trend_lead(history)), ""]
    notes = trend_notes(history)
    if notes:
        lines += ["> [!NOTE]", *(f"> - {md_escape(note)}" for note in notes), ""]
    for title, table in trend_tables(history):
        lines += [*_details(f"{title} ({len(table.rows)})", _md_table(table)), ""]
    return lines


def _accepted_section(accepted: AcceptedState | None) -> list[str]:
    if accepted is None:
        return []
    text, found = accepted_text(accepted)
    lines = ["### Accepted state", ""]
    if found:
        lines.append(md_escape(text))
    else:
        lines += ["> [!WARNING]", "> " + md_escape(text)]
    return [*lines, ""]


def _settings_line(settings: Settings | None) -> list[str]:
    if settings is None:
        return []
    return [
        f"<sub>alpha {settings.alpha:g} · minimum effect {settings.min_effect * 100:g} % · "
        f"memory tolerance {settings.memory_tolerance * 100:g} % · "
        f"{settings.processes} processes a side</sub>",
        "",
    ]


def render_markdown(verdict: Verdict) -> str:
    """`verdict.md`: the headline on the first line, then the tables, Markdown only."""
    lines = [f"## {md_escape(headline(verdict))}", ""]
    comparison = verdict.comparison
    if verdict.overall is Overall.ERROR or comparison is None:
        lines += [
            "The gate could not produce a verdict: fix what the line above names, then run "
            "`nox -s perf` again.",
            "",
        ]
        return "\n".join([*lines, *_accepted_section(verdict.accepted)]).rstrip() + "\n"
    if comparison.notes:
        lines += ["> [!NOTE]", *(f"> - {md_escape(note)}" for note in comparison.notes), ""]
    lines += _timing_section(comparison, verdict.settings)
    lines += _memory_section(comparison.memory)
    lines += _counts_section(verdict.counts, verdict.settings)
    lines += _budget_section(verdict.budgets)
    lines += _trend_section(verdict.history)
    lines += _accepted_section(verdict.accepted)
    lines += [
        "### Accepting an intended change",
        "",
        "If the change is intended, run `nox -s update-baseline` and commit the changed "
        + (md_escape(verdict.accepted.baseline_path) if verdict.accepted else "baseline file")
        + " together with the code: the baseline diff is then part of the pull request.",
        "",
        f"Charts (relative change with its bounds, memory, latency against budgets) are in "
        f"`report.html` in the `{ARTIFACT_NAME}` artifact of this workflow run.",
        "",
        *_settings_line(verdict.settings),
    ]
    return "\n".join(lines).rstrip() + "\n"
