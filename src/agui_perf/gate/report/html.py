"""`report.html`: the page a person opens first, self-contained.

Everything is inline (CSS, the SVG charts) and nothing is fetched: the report is opened from a
downloaded artifact, often offline, and an external URL in it would leak that it was opened.
A Content-Security-Policy forbids scripts and every fetch as a second line of defence, because
the page shows strings the pull request's code chose (benchmark names, commit subjects): each
one goes through `html.escape`. The charts' text is escaped by their XML serializer.

The tables are the same `Table` rows as the Markdown verdict, so the two never disagree.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from agui_perf.gate.decide.compare import MemoryState
from agui_perf.gate.decide.verdict import Overall
from agui_perf.gate.report.markdown import (
    NOTABLE_FIRST,
    accepted_text,
    budget_tables,
    counts_table,
    counts_text,
    folded_summary,
    headline,
    memory_table,
    reasons,
    sight_text,
    sites_table,
    statistic_text,
    timing_table,
)
from agui_perf.gate.report.trend import points_table, trend_charts, trend_lead, trend_notes

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agui_perf.gate.decide.verdict import Verdict
    from agui_perf.gate.report.charts import Chart
    from agui_perf.gate.report.markdown import Table

__all__ = ["CSP", "render_html"]

# No script, no fetch of any kind; inline <style> (the page's and each chart's) only.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: #1f2328; background: #f6f8fa; margin: 0; }
main { max-width: 1120px; margin: 0 auto; padding: 24px; }
header.verdict { border-radius: 8px; padding: 16px 20px; margin-bottom: 20px; color: #fff; }
header.verdict h1 { font-size: 22px; margin: 0; line-height: 1.35; overflow-wrap: anywhere; }
header.verdict p { margin: 6px 0 0; opacity: .95; }
header.pass { background: #1a7f37; } header.fail { background: #cf222e; }
header.error { background: #9a6700; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 4px 20px 16px;
          margin-bottom: 20px; }
h2 { font-size: 18px; margin: 16px 0 8px; } h3 { font-size: 15px; margin: 16px 0 6px; }
p.lead { color: #57606a; margin: 0 0 12px; }
p.sight { font-weight: 600; margin: 0 0 12px; }
ul.reasons { margin: 12px 0 0; padding-left: 20px; color: #1f2328; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #d8dee4;
         vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.name { overflow-wrap: anywhere; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas,
          monospace; font-size: 13px; }
td.state { white-space: nowrap; font-weight: 600; }
tr.bad td { background: #ffebe9; } tr.good td { background: #dafbe1; }
tr.warn td { background: #fff8c5; } tr.info td { background: #ddf4ff; }
tr.bad td.state { color: #cf222e; } tr.good td.state, tr.ok td.state { color: #1a7f37; }
tr.warn td.state { color: #9a6700; } tr.info td.state { color: #0969da; }
tr.neutral td.state { color: #57606a; font-weight: 400; }
figure { margin: 12px 0; } figure svg { display: block; width: 100%; height: auto; }
.charts-2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr));
            gap: 12px; }
.note { border-left: 4px solid #bf8700; background: #fff8c5; padding: 8px 12px;
        margin: 12px 0; border-radius: 4px; }
#budgets td.name { overflow-wrap: break-word; }
details { margin: 8px 0 0; } summary { cursor: pointer; color: #57606a; padding: 4px 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px;
       background: #eff1f3; padding: 1px 5px; border-radius: 4px; }
footer { color: #57606a; font-size: 13px; text-align: center; }
"""

_e = html.escape


def _table(table: Table, *, numeric: Sequence[int] = (), name: int = 0) -> str:
    """A table; column `name` is a name, the last a state, `numeric` are right-aligned."""
    last = len(table.headers) - 1 if table.has_state else -1
    head = "".join(f"<th>{_e(h)}</th>" for h in table.headers)
    rows = []
    for row in table.rows:
        cells = []
        for i, cell in enumerate(row.cells):
            cls = "name" if i == name else "state" if i == last else "num" if i in numeric else ""
            attr = f' class="{cls}"' if cls else ""
            cells.append(f"<td{attr}>{_e(cell)}</td>")
        rows.append(f'<tr class="{row.tone}">' + "".join(cells) + "</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _figure(chart: Chart | None) -> str:
    if chart is None:
        return ""
    return f'<figure aria-label="{_e(chart.title)}">{chart.svg}</figure>'


def _charts(charts: Sequence[Chart], filename: str) -> Chart | None:
    return next((c for c in charts if c.filename == filename), None)


def _timing(verdict: Verdict, charts: Sequence[Chart]) -> str:
    comparison = verdict.comparison
    if comparison is None:
        return ""
    parts = ['<section id="timing"><h2>Timing</h2>']
    if not comparison.benchmarks:
        return parts[0] + "<p>No benchmark was measured.</p></section>"
    order = {state: i for i, state in enumerate(NOTABLE_FIRST)}
    ordered = sorted(comparison.benchmarks, key=lambda b: (order[b.state], b.name))
    sight = sight_text(comparison)
    why = reasons(ordered)
    parts += [
        f'<p class="lead">{_e(statistic_text(comparison, verdict.settings))}</p>',
        f'<p class="sight">{_e(sight)}</p>' if sight else "",
        _figure(_charts(charts, "change.svg")),
        _table(timing_table(ordered), numeric=(1, 2, 3, 4, 5)),
        (
            '<ul class="reasons">'
            + "".join(f"<li><code>{_e(name)}</code>: {_e(text)}</li>" for name, text in why)
            + "</ul>"
        )
        if why
        else "",
        "</section>",
    ]
    return "".join(parts)


def _memory(verdict: Verdict, charts: Sequence[Chart]) -> str:
    memory = verdict.memory
    if not memory:
        return ""
    tolerance = f"±{memory[0].tolerance * 100:g} %"
    parts = [
        '<section id="memory"><h2>Memory</h2>',
        f'<p class="lead">memray in a fresh process per scenario; deterministic, so compared '
        f"exactly (tolerance {_e(tolerance)} on peak and allocation count).</p>",
        '<div class="charts-2">',
        _figure(_charts(charts, "memory-peak.svg")),
        _figure(_charts(charts, "memory-allocations.svg")),
        "</div>",
        _table(memory_table(memory), numeric=(3,)),
    ]
    parts.extend(
        f'<p class="note">{_e(mem.scenario)}: {_e(mem.reason)}</p>'
        for mem in memory
        if mem.state is MemoryState.NOT_COMPARABLE and mem.reason
    )
    for mem in memory:
        if mem.grown_sites:
            parts += [
                f"<h3>Allocation sites that grew most — {_e(mem.scenario)}</h3>",
                _table(sites_table(mem.grown_sites), numeric=(2, 3, 4)),
            ]
    parts.append("</section>")
    return "".join(parts)


def _counts(verdict: Verdict) -> str:
    counts = verdict.counts
    if counts is None:
        return ""
    parts = [
        '<section id="counts"><h2>Instruction counts</h2>',
        f'<p class="lead">{_e(counts_text(counts, verdict.settings))}</p>',
    ]
    if counts.rows:
        parts.append(_table(counts_table(counts.rows), numeric=(1, 2, 3)))
    elif counts.measured:
        parts.append("<p>No cpu_bound benchmark was counted.</p>")
    parts.append("</section>")
    return "".join(parts)


def _latency(charts: Sequence[Chart]) -> str:
    chart = _charts(charts, "latency.svg")
    if chart is None:
        return ""
    return f'<section id="latency"><h2>Latency</h2>{_figure(chart)}</section>'


def _budgets(verdict: Verdict) -> str:
    if verdict.comparison is None and not verdict.budgets:
        return ""
    if not verdict.budgets:
        body = "<p>No budget is configured (<code>[tool.agui_perf.budgets]</code>).</p>"
        return f'<section id="budgets"><h2>Budgets</h2>{body}</section>'
    shown, folded = budget_tables(verdict.budgets)
    # Column 1 is the benchmark; column 0, the budget's label, wraps as prose.
    body = _table(shown, numeric=(2, 3, 4), name=1)
    if folded is not None:
        body += (
            f"<details><summary>{_e(folded_summary(folded))}</summary>"
            f"{_table(folded, numeric=(2, 3, 4), name=1)}</details>"
        )
    return f'<section id="budgets"><h2>Budgets</h2>{body}</section>'


def _trend(verdict: Verdict) -> str:
    history = verdict.history
    if history is None:
        return ""
    parts = ['<section id="trend"><h2>Trend</h2>', f'<p class="lead">{_e(trend_lead(history))}</p>']
    parts += [f'<p class="note">{_e(note)}</p>' for note in trend_notes(history)]
    parts += [_figure(chart) for chart in trend_charts(history)]
    parts += ["<h3>The points</h3>", _table(points_table(history)), "</section>"]
    return "".join(parts)


def _accepted(verdict: Verdict) -> str:
    accepted = verdict.accepted
    parts = ['<section id="accepted"><h2>Accepted state</h2>']
    if accepted is not None:
        text, found = accepted_text(accepted)
        if found:
            parts.append(f"<p>{_e(text)}</p>")
        else:
            parts.append(f'<p class="note">{_e(text)}</p>')
    path = accepted.baseline_path if accepted else "the baseline file"
    parts.append(
        "<h3>Accepting an intended change</h3><p>If the change is intended, run "
        f"<code>nox -s update-baseline</code> and commit the changed <code>{_e(path)}</code> "
        "together with the code: the baseline diff is then part of the pull request.</p>"
    )
    parts.append("</section>")
    return "".join(parts)


def _notes(verdict: Verdict) -> str:
    notes = verdict.comparison.notes if verdict.comparison else ()
    return "".join(f'<p class="note">{_e(note)}</p>' for note in notes)


def _footer(verdict: Verdict) -> str:
    settings = verdict.settings
    if settings is None:
        return ""
    return (
        f"<footer>alpha {settings.alpha:g} · minimum effect {settings.min_effect * 100:g} % · "
        f"memory tolerance {settings.memory_tolerance * 100:g} % · {settings.processes} "
        "processes a side · agui-perf gate</footer>"
    )


def render_html(verdict: Verdict, charts: Sequence[Chart] = ()) -> str:
    """The whole page; `charts` are inlined where they belong (matched by file name)."""
    line = headline(verdict, icon=False)
    overall = verdict.overall.value
    sub = ""
    if verdict.overall is Overall.ERROR:
        sub = "<p>The gate could not produce a verdict: fix what the line above names, then run "
        sub += "<code>nox -s perf</code> again.</p>"
    body = "".join(
        [
            f'<header class="verdict {overall}"><h1>{_e(line)}</h1>{sub}</header>',
            _notes(verdict),
            _timing(verdict, charts),
            _memory(verdict, charts),
            _counts(verdict),
            _latency(charts),
            _budgets(verdict),
            _trend(verdict),
            _accepted(verdict),
            _footer(verdict),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(line)}</title><style>{_CSS}</style></head>\n"
        f"<body><main>{body}</main></body></html>\n"
    )
