from __future__ import annotations

import io
import json
import re
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.report.github import (
    PR_NUMBER_FILE,
    SUMMARY_LIMIT_BYTES,
    Annotation,
    annotation_lines,
    emit_annotations,
    escape_data,
    escape_property,
    in_github_actions,
    pr_number,
    run_url,
    truncate_summary,
    write_outputs,
    write_pr_number,
    write_step_summary,
)

if TYPE_CHECKING:
    from pathlib import Path

RUN_ENV = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "octo/agui-perf",
    "GITHUB_RUN_ID": "42",
}


def _parse_outputs(text: str) -> dict[str, str]:
    """Read $GITHUB_OUTPUT the way the runner does: `name<<DELIM` … `DELIM` blocks."""
    result: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines) and lines[i]:
        name, delimiter = lines[i].split("<<", 1)
        end = lines.index(delimiter, i + 1)
        result[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return result


# --- in_github_actions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [({"GITHUB_ACTIONS": "true"}, True), ({"GITHUB_ACTIONS": "false"}, False), ({}, False)],
)
def test_in_github_actions(env: dict[str, str], expected: bool) -> None:
    assert in_github_actions(env) is expected


def test_in_github_actions_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert in_github_actions()
    monkeypatch.delenv("GITHUB_ACTIONS")
    assert not in_github_actions()


# --- escaping and annotations ------------------------------------------------------------


def test_escape_data_follows_the_toolkit() -> None:
    assert escape_data("50% slower\r\nsee: a, b") == "50%25 slower%0D%0Asee: a, b"


def test_escape_property_also_encodes_colon_and_comma() -> None:
    assert escape_property("p95: 12%, x\n") == "p95%3A 12%25%2C x%0A"


def test_escaping_percent_first_keeps_sequences_unambiguous() -> None:
    # A literal "%0A" in the text must not turn into a newline when the runner decodes it.
    assert escape_data("%0A") == "%250A"


def test_annotation_line_format() -> None:
    line = annotation_lines(
        [Annotation("error", "test_encode: 25% slower", "p = 0.001, effect 25%")]
    )
    assert line == ["::error title=test_encode%3A 25%25 slower::p = 0.001, effect 25%25"]


def test_annotation_with_file_and_line() -> None:
    item = Annotation("warning", "t", "m", file="tests/benchmarks/test_a,b.py", line=7)
    expected = "::warning title=t,file=tests/benchmarks/test_a%2Cb.py,line=7::m"
    assert annotation_lines([item]) == [expected]


def test_annotation_without_title_has_no_properties() -> None:
    assert annotation_lines([Annotation("notice", "", "multi\nline")]) == ["::notice::multi%0Aline"]


def test_annotation_lines_are_single_lines() -> None:
    lines = annotation_lines([Annotation("error", "a\nb\r", "c\r\nd")])
    assert all("\n" not in line and "\r" not in line for line in lines)


@pytest.mark.parametrize("count", [0, 1, 9, 10])
def test_annotations_up_to_the_limit_are_all_kept(count: int) -> None:
    items = [Annotation("error", f"b{i}", "slower") for i in range(count)]
    lines = annotation_lines(items)
    assert len(lines) == count
    assert not any("more" in line for line in lines)


def test_annotations_over_the_limit_end_with_a_count() -> None:
    items = [Annotation("error", f"b{i}", "slower") for i in range(25)]
    lines = annotation_lines(items)
    assert len(lines) == 10
    assert lines[:9] == [f"::error title=b{i}::slower" for i in range(9)]
    assert lines[-1].startswith("::error title=and 16 more::16 more findings")


def test_the_count_line_takes_the_most_severe_level_left_out() -> None:
    items = [Annotation("notice", "n", "m")] * 3 + [Annotation("warning", "w", "m")]
    lines = annotation_lines(items, limit=2)
    assert lines == ["::notice title=n::m", lines[1]]
    assert lines[1].startswith("::warning title=and 3 more::")


def test_annotations_limit_of_one_is_only_the_count() -> None:
    lines = annotation_lines([Annotation("error", "a", "m")] * 2, limit=1)
    assert len(lines) == 1
    assert lines[0].startswith("::error title=and 2 more::")


def test_emit_annotations_prints_the_capped_lines() -> None:
    stream = io.StringIO()
    assert emit_annotations([Annotation("error", "t", "m")] * 12, stream=stream) == 10
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("::error title=and 3 more::")


def test_emit_annotations_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    emit_annotations([Annotation("notice", "t", "m")])
    assert capsys.readouterr().out == "::notice title=t::m\n"


def test_annotations_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit 0"):
        annotation_lines([], limit=0)


def test_annotation_rejects_unknown_level() -> None:
    with pytest.raises(ValueError, match="'fatal'"):
        Annotation("fatal", "t", "m")  # type: ignore[arg-type]


def test_annotation_rejects_line_zero() -> None:
    with pytest.raises(ValueError, match="line 0"):
        Annotation("error", "t", "m", file="f.py", line=0)


# --- step summary ------------------------------------------------------------------------


def test_run_url_from_env() -> None:
    assert run_url(RUN_ENV) == "https://github.com/octo/agui-perf/actions/runs/42"
    assert run_url({}) is None
    assert run_url({**RUN_ENV, "GITHUB_RUN_ID": "42; rm"}) is None


def test_write_step_summary_appends(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step output\n", encoding="utf-8")
    assert write_step_summary("## Verdict: pass", {"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text(encoding="utf-8") == "# earlier step output\n## Verdict: pass\n"


def test_write_step_summary_outside_actions_writes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    assert write_step_summary("# x") is False


def test_write_step_summary_uses_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert write_step_summary("é")
    assert summary.read_text(encoding="utf-8") == "é\n"


def test_write_step_summary_keeps_the_step_under_one_mebibyte(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_bytes(b"x" * 1000 + b"\n")
    row = "| test_encode | 1.00 ms | 1.02 ms | unchanged | é |\n"
    markdown = row * (2 * SUMMARY_LIMIT_BYTES // len(row))
    assert write_step_summary(markdown, {"GITHUB_STEP_SUMMARY": str(summary), **RUN_ENV})
    data = summary.read_bytes()
    assert len(data) < SUMMARY_LIMIT_BYTES
    text = data.decode("utf-8")  # cut on a character boundary
    assert "cut to stay under GitHub's 1 MiB limit" in text
    assert "[the workflow run](https://github.com/octo/agui-perf/actions/runs/42)" in text
    # Only whole rows survive before the note.
    body = text[1001 : text.index("\n\n> [!WARNING]")]
    assert body.endswith("|")
    assert all(line == row.rstrip("\n") for line in body.split("\n"))


def test_write_step_summary_with_no_room_left_writes_nothing(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_bytes(b"x" * SUMMARY_LIMIT_BYTES)
    assert not write_step_summary("# more", {"GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.stat().st_size == SUMMARY_LIMIT_BYTES


def test_truncate_summary_returns_short_text_unchanged() -> None:
    assert truncate_summary("abc", 3) == "abc"


def test_truncate_summary_without_link_names_the_run() -> None:
    text = truncate_summary("line\n" * 200, 400)
    assert len(text.encode("utf-8")) <= 400
    assert "`perf-report` artifact of the workflow run." in text


def test_truncate_summary_rejects_negative_budget() -> None:
    with pytest.raises(ValueError, match="-1"):
        truncate_summary("x", -1)


# --- outputs -----------------------------------------------------------------------------


def test_write_outputs_round_trips_multiline_values(tmp_path: Path) -> None:
    out = tmp_path / "output"
    out.write_text("earlier<<EOF\nkept\nEOF\n", encoding="utf-8")
    values = {"verdict": "regression", "body": "line 1\nEOF\nline 3 ✓", "empty": ""}
    assert write_outputs(values, {"GITHUB_OUTPUT": str(out)})
    assert _parse_outputs(out.read_text(encoding="utf-8")) == {"earlier": "kept", **values}


def test_write_outputs_delimiters_are_random(tmp_path: Path) -> None:
    out = tmp_path / "output"
    write_outputs({"a": "1", "b": "2"}, {"GITHUB_OUTPUT": str(out)})
    delimiters = re.findall(r"^\w+<<(.+)$", out.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(set(delimiters)) == 2


def test_a_value_cannot_inject_another_output(tmp_path: Path) -> None:
    out = tmp_path / "output"
    hostile = "x\nghadelimiter_guess\nadmin<<Z\ntrue\nZ"
    write_outputs({"body": hostile}, {"GITHUB_OUTPUT": str(out)})
    assert _parse_outputs(out.read_text(encoding="utf-8")) == {"body": hostile}


@pytest.mark.parametrize("name", ["", "1st", "a b", "a<<b", "a\nb", "é"])
def test_write_outputs_rejects_bad_names(name: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="output name"):
        write_outputs({name: "v"}, {"GITHUB_OUTPUT": str(tmp_path / "o")})
    assert not (tmp_path / "o").exists()


def test_write_outputs_outside_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    assert write_outputs({"a": "1"}) is False


def test_write_outputs_rejects_a_value_holding_its_delimiter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agui_perf.gate.report.github.uuid.uuid4", lambda: "fixed")
    with pytest.raises(ValueError, match="'body' contains its own delimiter"):
        write_outputs({"body": "ghadelimiter_fixed"}, {"GITHUB_OUTPUT": str(tmp_path / "o")})


# --- pull request number -----------------------------------------------------------------


def _event(tmp_path: Path, payload: object) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    return {"GITHUB_EVENT_PATH": str(path)}


def test_pr_number_from_pull_request_event(tmp_path: Path) -> None:
    assert pr_number(_event(tmp_path, {"pull_request": {"number": 17}, "number": 17})) == 17


@pytest.mark.parametrize(
    "payload",
    [
        {"ref": "refs/heads/main"},  # push
        {"pull_request": {"number": "17"}},
        {"pull_request": {"number": True}},
        {"pull_request": {"number": 0}},
        {"pull_request": {"number": 10**9 + 1}},
        {"pull_request": None},
        [1, 2],
    ],
)
def test_pr_number_is_none_without_a_valid_number(tmp_path: Path, payload: object) -> None:
    assert pr_number(_event(tmp_path, payload)) is None


def test_pr_number_without_event_file(tmp_path: Path) -> None:
    assert pr_number({}) is None
    assert pr_number({"GITHUB_EVENT_PATH": str(tmp_path / "missing.json")}) is None
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    assert pr_number({"GITHUB_EVENT_PATH": str(bad)}) is None


def test_pr_number_uses_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = _event(tmp_path, {"pull_request": {"number": 5}})
    monkeypatch.setenv("GITHUB_EVENT_PATH", env["GITHUB_EVENT_PATH"])
    assert pr_number() == 5


def test_write_pr_number(tmp_path: Path) -> None:
    report = tmp_path / "report"
    assert write_pr_number(report, _event(tmp_path, {"pull_request": {"number": 123}})) == 123
    assert (report / PR_NUMBER_FILE).read_text(encoding="ascii") == "123\n"


def test_write_pr_number_on_push_writes_nothing(tmp_path: Path) -> None:
    report = tmp_path / "report"
    assert write_pr_number(report, _event(tmp_path, {"ref": "refs/heads/main"})) is None
    assert not report.exists()
