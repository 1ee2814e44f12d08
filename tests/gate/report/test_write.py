from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.decide.verdict import error_verdict
from agui_perf.gate.errors import GateError
from agui_perf.gate.report.charts import CHART_FILES
from agui_perf.gate.report.markdown import render_markdown
from agui_perf.gate.report.write import ReportFiles, render_report, write_report
from tests._support.verdicts import passing_verdict, sample_results, sample_verdict

if TYPE_CHECKING:
    from pathlib import Path

REPORT_FILES = {"verdict.md", "verdict.json", "report.html", *CHART_FILES}


def _names(directory: Path) -> set[str]:
    return {path.name for path in directory.iterdir()}


def test_writes_every_file(tmp_path: Path) -> None:
    verdict = sample_verdict()
    out = tmp_path / ".perf" / "report"  # created with its parents
    files = write_report(verdict, out, current=sample_results()[1])
    assert isinstance(files, ReportFiles)
    assert _names(out) == REPORT_FILES
    assert files.directory == out
    assert files.markdown == out / "verdict.md"
    assert files.charts == tuple(out / name for name in CHART_FILES)
    assert {p.name for p in files.all} == REPORT_FILES
    assert files.markdown.read_text(encoding="utf-8") == render_markdown(verdict)
    assert files.html.read_text(encoding="utf-8").count("<svg") == 4
    assert (out / "latency.svg").read_text(encoding="utf-8").startswith("<svg")


def test_verdict_json_is_pretty_sorted_and_complete(tmp_path: Path) -> None:
    verdict = sample_verdict()
    text = write_report(verdict, tmp_path).json.read_text(encoding="utf-8")
    assert json.loads(text) == verdict.to_json()
    assert text == json.dumps(verdict.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + (
        "\n"
    )


def test_rewriting_replaces_and_removes_stale_charts(tmp_path: Path) -> None:
    write_report(sample_verdict(), tmp_path, current=sample_results()[1])
    (tmp_path / "unrelated.txt").write_text("kept", encoding="utf-8")
    files = write_report(passing_verdict(), tmp_path)
    assert files.charts == (tmp_path / "change.svg",)
    # Charts of the earlier run are gone; files that are not the report's stay.
    assert _names(tmp_path) == {"verdict.md", "verdict.json", "report.html", "change.svg"} | {
        "unrelated.txt"
    }
    assert files.markdown.read_text(encoding="utf-8").startswith("## ✅ PASS")


def test_error_verdict_writes_text_and_no_charts(tmp_path: Path) -> None:
    files = write_report(error_verdict("results 'x.json' is empty — re-run"), tmp_path)
    assert files.charts == ()
    assert _names(tmp_path) == {"verdict.md", "verdict.json", "report.html"}
    assert json.loads(files.json.read_text(encoding="utf-8"))["exit_code"] == 2


def test_failure_midway_leaves_no_half_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = "## previous verdict\n"
    (tmp_path / "verdict.md").write_text(old, encoding="utf-8")
    verdict = sample_verdict()
    expected = render_report(verdict)
    real_replace = os.replace
    calls: list[str] = []

    def failing_replace(src: str, dst: str | os.PathLike[str]) -> None:
        calls.append(os.fspath(dst))
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(GateError) as info:
        write_report(verdict, tmp_path)
    monkeypatch.undo()

    assert "No space left on device" in str(info.value)
    assert "\n" not in str(info.value)
    # Every file is either complete (written before the failure) or absent/old; no temp files.
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    written = [os.path.basename(c) for c in calls[:2]]
    for name in written:
        assert (tmp_path / name).read_text(encoding="utf-8") == expected[name]
    assert (tmp_path / "verdict.md").read_text(encoding="utf-8") == old
    assert _names(tmp_path) == {"verdict.md", *written}


def test_unwritable_directory_is_a_one_line_gate_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(GateError) as info:
        write_report(sample_verdict(), blocker / "report")
    message = str(info.value)
    assert message.startswith(f"cannot create the report directory '{blocker / 'report'}'")
    assert "choose a writable directory" in message
    assert "\n" not in message
    with pytest.raises(GateError, match="cannot create the report directory"):
        write_report(sample_verdict(), blocker)


def test_read_only_directory_is_a_gate_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root ignores permission bits, so the refusal is simulated where the file is created.
    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(GateError, match=r"cannot write '.*' \(Permission denied\)"):
        write_report(sample_verdict(), tmp_path)
    assert _names(tmp_path) == set()


def test_bad_verdict_fails_before_any_file_is_written(tmp_path: Path) -> None:
    verdict = sample_verdict()
    assert verdict.comparison is not None
    broken = replace(
        verdict,
        comparison=replace(
            verdict.comparison,
            benchmarks=(replace(verdict.comparison.benchmarks[0], ratio=float("nan")),),
        ),
    )
    with pytest.raises(GateError, match="cannot be written as JSON"):
        write_report(broken, tmp_path / "out")
    assert not (tmp_path / "out").exists()
