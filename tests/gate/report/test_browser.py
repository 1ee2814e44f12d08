"""report.html in a real browser: headless Chromium over the DevTools pipe.

Skipped, saying why, only where no Chromium is installed; `.ci/run` installs Debian's
`chromium`. Nothing here is timed: every wait is on the browser's own events, with generous
bounds (`browser.STEP_TIMEOUT_S`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.decide.budgets import SERVICE_KEY, check_budgets
from agui_perf.gate.decide.compare import compare
from agui_perf.gate.decide.verdict import decide
from agui_perf.gate.errors import GateError
from agui_perf.gate.report.browser import (
    BROWSER_ENV,
    BROWSER_NAMES,
    PageView,
    find_browser,
    inspect_page,
    main,
)
from agui_perf.gate.report.write import write_report
from agui_perf.gate.store.config import Settings
from tests._support.results import make_memory, make_results
from tests._support.verdicts import FOUND, sample_results, sample_verdict
from tests._support.verdicts import spread as _spread

if TYPE_CHECKING:
    from pathlib import Path

CHART_IDS = [
    "chart-agui-perf-change",
    "chart-agui-perf-memory-peak",
    "chart-agui-perf-memory-allocations",
    "chart-agui-perf-latency",
]
PNG = b"\x89PNG\r\n\x1a\n"


def _why_no_browser() -> str:
    explicit = os.environ.get(BROWSER_ENV, "").strip()
    where = (
        f"{BROWSER_ENV}={explicit!r} is not an executable"
        if explicit
        else f"none of {', '.join(BROWSER_NAMES)} is on PATH"
    )
    return (
        f"no Chromium installed ({where}): .ci/run installs Debian's chromium; "
        "apt-get install chromium to run this here"
    )


needs_browser = pytest.mark.skipif(find_browser() is None, reason=_why_no_browser())


def _passing_report(tmp_path: Path) -> Path:
    """The issue's case: a passing run whose service latencies are 0.1-2 ms against budgets of
    200 and 300 ms, micro-benchmarks at a million events/s, memory of a few MiB."""
    served = {SERVICE_KEY: "client cpu 0, server cpu 1"}
    names = {
        "test_concurrent_streams": 0.35,
        "test_event_latency": 0.27,
        "test_stream_events_per_second[ours]": 0.055,
        "test_build_and_encode_one_event[RUN_STARTED-ours]": 7.6e-7,
        "test_encode_account_analysis_run[ours-encode]": 1.9e-5,
    }
    results = make_results(
        {name: _spread(centre) for name, centre in names.items()},
        [
            make_memory("concurrent_streams_100", 6_063_000, 48_000),
            make_memory("sequential_streams_100", 409_100, 9_800),
            make_memory("workflow_run", 381_900, 6_900),
        ],
        extra_info={
            "test_concurrent_streams": {
                **served,
                "concurrent_streams": 25,
                "error_rate": 0.0,
                "events_per_s": 21_074.4,
                "latency_mean_ms": 0.277,
                "latency_median_ms": 0.218,
                "latency_p95_ms": 0.63,
                "latency_p99_ms": 0.99,
                "latency_max_ms": 1.85,
            },
            "test_event_latency": {
                **served,
                "latency_mean_ms": 0.0916,
                "latency_median_ms": 0.0853,
                "latency_p95_ms": 0.143,
                "latency_p99_ms": 0.2015,
                "latency_max_ms": 0.3276,
            },
            "test_stream_events_per_second[ours]": {**served, "events_per_s": 361_779.4},
            "test_build_and_encode_one_event[RUN_STARTED-ours]": {"events_per_s": 1_309_352},
            "test_encode_account_analysis_run[ours-encode]": {"events_per_s": 4_018_606},
        },
    )
    settings = Settings(
        budgets={
            "latency_mean_ms": 200.0,
            "latency_p95_ms": 300.0,
            "concurrent_streams_min": 10.0,
            "peak_memory_mb": 500.0,
            "throughput_events_per_s_min": 100.0,
            "error_rate_max": 0.05,
        }
    )
    comparison = compare(results, results, settings, accepted_found=True)
    verdict = decide(comparison, check_budgets(results, settings.budgets), FOUND, settings)
    return write_report(verdict, tmp_path / "passing", current=results).html


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PageView]:
    """The failing sample report and the passing one, each loaded once (with screenshots)."""
    if find_browser() is None:
        pytest.skip(_why_no_browser())
    root = tmp_path_factory.mktemp("browser")
    failing = write_report(sample_verdict(), root / "failing", current=sample_results()[1]).html
    return {
        "failing": inspect_page(failing, screenshots=root / "failing-shots"),
        "passing": inspect_page(_passing_report(root), screenshots=root / "passing-shots"),
    }


@needs_browser
@pytest.mark.parametrize("which", ["failing", "passing"])
def test_every_chart_is_drawn_and_nothing_is_wrong(pages: dict[str, PageView], which: str) -> None:
    view = pages[which]
    assert view.title.startswith("FAIL" if which == "failing" else "PASS")
    assert [chart.id for chart in view.charts] == CHART_IDS
    for chart in view.charts:
        assert chart.width > 300, chart
        assert chart.height > 150, chart
        assert chart.shapes > 0, chart
        assert chart.labels > 0, chart
    assert view.errors == ()
    assert view.requests == ()
    assert view.problems == []


@needs_browser
def test_one_screenshot_per_chart_and_of_the_budgets(pages: dict[str, PageView]) -> None:
    shots = pages["passing"].screenshots
    assert [shot.name for shot in shots] == [
        "agui-perf-change.png",
        "agui-perf-memory-peak.png",
        "agui-perf-memory-allocations.png",
        "agui-perf-latency.png",
        "budgets.png",
    ]
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(PNG), shot
        # A clipped screenshot of a drawn chart is tens of kB; an empty one a few hundred bytes.
        assert len(data) > 5_000, shot


_BROKEN = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head>
<body>
<figure aria-label="nothing drawn"><svg id="chart-empty" width="400" height="200"
  xmlns="http://www.w3.org/2000/svg"><g class="series"></g></svg></figure>
<figure aria-label="crowded"><svg id="chart-crowded" width="400" height="200"
  xmlns="http://www.w3.org/2000/svg">
  <g class="series"><rect x="10" y="10" width="50" height="20"/></g>
  <g class="axis x"><text x="20" y="150">1.00 MiB</text><text x="60" y="150">2.00 MiB</text>
  <text x="380" y="190">cut off at the edge</text></g></svg></figure>
<img src="http://127.0.0.1:9/tracker.png" alt="">
<script>console.error("logged"); throw new Error("boom");</script>
</body></html>
"""


@needs_browser
def test_the_check_sees_errors_fetches_and_bad_charts(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(_BROKEN, encoding="utf-8")
    view = inspect_page(page)
    assert any("boom" in error for error in view.errors), view.errors
    assert any("logged" in error for error in view.errors), view.errors
    assert view.requests == ("http://127.0.0.1:9/tracker.png",)  # no policy: it went out
    assert view.blocked == ()
    empty, crowded = view.charts
    assert (empty.id, empty.shapes) == ("chart-empty", 0)
    assert crowded.shapes == 1
    assert crowded.overlaps == (("1.00 MiB", "2.00 MiB"),)
    assert crowded.clipped == ("cut off at the edge",)
    problems = view.problems
    assert "chart-empty draws no data" in problems
    assert "chart-crowded: labels '1.00 MiB' and '2.00 MiB' overlap" in problems
    assert main([str(page)]) == 1


@needs_browser
def test_the_report_policy_blocks_what_a_name_could_smuggle_in(tmp_path: Path) -> None:
    # The page escapes every name; were something to slip through, the Content-Security-Policy
    # must still stop it in the browser: no script runs, nothing is fetched.
    report = write_report(sample_verdict(), tmp_path / "report").html
    html = report.read_text(encoding="utf-8")
    smuggled = (
        '<script>document.title = "ran";</script>'
        '<img src="http://127.0.0.1:9/leak.png" alt="">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/leak.css">'
    )
    report.write_text(html.replace("</main>", smuggled + "</main>"), encoding="utf-8")
    view = inspect_page(report)
    assert view.title != "ran"
    assert view.requests == ()
    assert set(view.blocked) == {"http://127.0.0.1:9/leak.png", "http://127.0.0.1:9/leak.css"}
    violations = [e for e in view.errors if "violates the following Content Security Policy" in e]
    assert len(violations) == 3, view.errors  # the script, the image, the stylesheet


@needs_browser
def test_command_line_passes_a_good_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = _passing_report(tmp_path)
    assert main([str(report), "--screenshots", str(tmp_path / "shots")]) == 0
    out = capsys.readouterr().out
    assert "chart chart-agui-perf-latency:" in out
    assert out.rstrip().endswith("4 charts, 0 errors, 0 network requests — OK")
    assert (tmp_path / "shots" / "agui-perf-latency.png").is_file()


def test_no_browser_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    page.write_text("<!DOCTYPE html><title>x</title>", encoding="utf-8")
    monkeypatch.setenv(BROWSER_ENV, str(tmp_path / "no-such-chromium"))
    assert find_browser() is None
    with pytest.raises(GateError, match=r"no Chromium found .* apt-get install chromium"):
        inspect_page(page)
    assert main([str(page)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("browser: error: no Chromium found")
    assert err.count("\n") == 1


def test_a_missing_page_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["/nonexistent/report.html"]) == 2
    assert "'/nonexistent/report.html' is not a file" in capsys.readouterr().err


def test_a_browser_that_exits_at_once_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "report.html"
    page.write_text("<!DOCTYPE html><title>x</title>", encoding="utf-8")
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'no display and no luck' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv(BROWSER_ENV, str(fake))
    with pytest.raises(GateError, match=r"Chromium exited .*no display and no luck"):
        inspect_page(page)
    assert main([str(page)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
