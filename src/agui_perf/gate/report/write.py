"""Write the report directory (`.perf/report/`): verdict.md, verdict.json, the charts, report.html.

Everything is rendered in memory first, so that bad data fails before any file is touched;
then each file is written atomically (`atomic_write_text`: temporary file + rename), so a
reader (the job summary step, the comment workflow, a person) sees the old file or the new
one, never half of one. A chart this run has no data for is removed rather than left over
from an earlier run, so the directory never mixes two runs' charts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agui_perf.gate._io import atomic_write_text, dump_json
from agui_perf.gate.errors import GateError
from agui_perf.gate.report.charts import CHART_FILES, render_charts
from agui_perf.gate.report.html import render_html
from agui_perf.gate.report.markdown import render_markdown

if TYPE_CHECKING:
    import os

    from agui_perf.gate.decide.verdict import Verdict
    from agui_perf.gate.store.results import Results

__all__ = [
    "ReportFiles",
    "render_report",
    "write_report",
]

MARKDOWN_FILE = "verdict.md"
JSON_FILE = "verdict.json"
HTML_FILE = "report.html"
_HINT = "choose a writable directory for the report"


@dataclass(frozen=True)
class ReportFiles:
    """The files `write_report` wrote."""

    directory: Path
    markdown: Path
    json: Path
    html: Path
    charts: tuple[Path, ...]

    @property
    def all(self) -> tuple[Path, ...]:
        return (self.markdown, self.json, *self.charts, self.html)


def render_report(verdict: Verdict, *, current: Results | None = None) -> dict[str, str]:
    """Every file of the report by name, in the order they are written (verdict.md last)."""
    try:
        verdict_json = dump_json(verdict.to_json())
    except ValueError as err:
        # dump_json refuses NaN/Infinity: a verdict holding one is a bug upstream, not data.
        raise GateError(
            f"the verdict cannot be written as JSON ({err}) — report this as a bug"
        ) from None
    charts = render_charts(verdict, current)
    files = {chart.filename: chart.svg for chart in charts}
    files[HTML_FILE] = render_html(verdict, charts)
    files[JSON_FILE] = verdict_json
    files[MARKDOWN_FILE] = render_markdown(verdict)
    return files


def _reason(err: OSError) -> str:
    return err.strerror or type(err).__name__


def write_report(
    verdict: Verdict, out_dir: str | os.PathLike[str], *, current: Results | None = None
) -> ReportFiles:
    """Render and write the report into `out_dir` (created if needed).

    `current` (the current side's Results) adds the latency percentiles from the benchmarks'
    `extra_info` to the latency chart; without it the chart shows the budgeted figures only.
    An unwritable directory is a `GateError` naming it.
    """
    directory = Path(out_dir)
    files = render_report(verdict, current=current)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise GateError(
            f"cannot create the report directory '{directory}' ({_reason(err)}) — {_HINT}"
        ) from None
    if not directory.is_dir():
        raise GateError(f"the report directory '{directory}' is not a directory — {_HINT}")
    for name, text in files.items():
        path = directory / name
        try:
            atomic_write_text(path, text)
        except OSError as err:
            raise GateError(f"cannot write '{path}' ({_reason(err)}) — {_HINT}") from None
    for stale in sorted(set(CHART_FILES) - set(files)):
        try:
            (directory / stale).unlink(missing_ok=True)
        except OSError as err:
            raise GateError(
                f"cannot remove the stale chart '{directory / stale}' ({_reason(err)}) — {_HINT}"
            ) from None
    return ReportFiles(
        directory=directory,
        markdown=directory / MARKDOWN_FILE,
        json=directory / JSON_FILE,
        html=directory / HTML_FILE,
        charts=tuple(directory / name for name in files if name in CHART_FILES),
    )
