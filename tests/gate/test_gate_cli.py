"""`agui-perf gate perf | update-baseline` as users run them: subprocesses in a toy repository.

The bad-input cases each exit 2 with one line on stderr, no traceback, and nothing under
baselines/ changed. One end-to-end run measures the toy suite for real (pytest-benchmark in
fresh processes, memray, a git worktree) and checks that each side imported its own code.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agui_perf.gate import cli
from agui_perf.gate.measure.runner import DEFAULT_SCALE
from agui_perf.gate.store.baseline import DiffRow, read_baseline, write_baseline
from agui_perf.gate.store.environment import environment_key
from tests._support.gate_cli import TIMEOUT, error_line, gate_env, run_gate, snapshot
from tests._support.git import GIT_ENV, commit_all, git, init_repo
from tests._support.toy import BASELINE, KEY, TOY_FILES, stored_results, toy_repo, write_toy

if TYPE_CHECKING:
    from collections.abc import Callable


# --- bad input: exit 2, one line, baselines/ untouched --------------------------------------


def test_unknown_posargs(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    before = snapshot(root)
    for command in ("perf", "update-baseline"):
        done = run_gate(root, command, "--processes", "2", "--fast")
        assert done.returncode == 2
        assert done.stderr == (
            f"agui-perf gate {command}: error: unrecognized arguments: --fast "
            f"— see agui-perf gate {command} --help\n"
        )
        assert done.stdout == ""
    assert snapshot(root) == before


def test_ref_outside_a_git_repository(tmp_path: Path) -> None:
    root = write_toy(tmp_path / "plain")
    write_baseline(root / BASELINE, stored_results({"test_sum": 1e-3}))
    before = snapshot(root)
    done = run_gate(root, "perf", "--ref", "main")
    assert done.returncode == 2
    assert done.stderr == (
        f"agui-perf gate perf: error: --ref main needs a git repository, but {root.resolve()} "
        "is not a git repository — drop --ref\n"
    )
    assert snapshot(root) == before


def test_an_unwritable_output_folder(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    before = snapshot(root)
    out = tmp_path / "a-file" / "report"
    for command in ("perf", "update-baseline"):
        done = run_gate(root, command, "--out", str(out))
        assert done.returncode == 2
        line = error_line(done.stderr)
        assert line.startswith(
            f"agui-perf gate {command}: error: output folder '{out}' is not writable "
            "(Not a directory) — choose another with --out DIR"
        )
    assert snapshot(root) == before


def test_a_bad_budget(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    with (root / "pyproject.toml").open("a") as handle:
        handle.write('\n[tool.agui_perf.budgets]\nttfe = { figure = "agui_ttfe_s" }\n')
    before = snapshot(root)
    done = run_gate(root, "perf", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert error_line(done.stderr) == (
        "agui-perf gate perf: error: [tool.agui_perf.budgets].ttfe: has neither 'max' nor "
        "'min'; a figure budget is one limit (write two budgets for a range) — fix "
        "[tool.agui_perf] in pyproject.toml"
    )
    assert snapshot(root) == before


def test_a_baseline_for_another_environment(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path, baseline=False)
    other = stored_results({"test_sum": 1e-3}, system="Darwin")
    write_baseline(root / BASELINE, other)
    commit_all(root, "a baseline measured on a Mac, stored under this machine's name")
    before = snapshot(root)
    done = run_gate(root, "perf", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    line = error_line(done.stderr)
    other_key = environment_key(other.environment)
    assert other_key.startswith("darwin-")
    assert f"was measured on {other_key}, not on this machine ({KEY})" in line
    assert line.endswith("— run nox -s update-baseline")
    assert snapshot(root) == before
    # The report folder carries the error verdict (what CI uploads and comments with).
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert verdict["overall"] == "error"
    assert verdict["exit_code"] == 2


def _corrupt(text: str) -> Callable[[str], str]:
    return lambda _good: text


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    def edit(good: str) -> str:
        document = json.loads(good)
        change(document)
        # allow_nan: the NaN case must reach the file as the gate would meet it.
        return json.dumps(document, allow_nan=True)

    return edit


def _first_benchmark(document: dict[str, Any]) -> dict[str, Any]:
    benchmark: dict[str, Any] = next(iter(document["benchmarks"].values()))
    return benchmark


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        pytest.param(_corrupt(""), "is empty", id="empty"),
        pytest.param(_corrupt("{not json"), "not valid JSON", id="corrupt"),
        pytest.param(_corrupt("[1, 2]"), "should be a JSON object", id="not-an-object"),
        pytest.param(
            _edit(lambda d: d.update(schema_version=99)), "schema version 99", id="schema-version"
        ),
        pytest.param(_edit(lambda d: d.pop("benchmarks")), "benchmarks", id="missing-field"),
        pytest.param(
            _edit(lambda d: _first_benchmark(d).update(median=float("nan"))), "NaN", id="nan"
        ),
        pytest.param(
            _edit(lambda d: _first_benchmark(d).update(samples=[-1.0, 1.0])),
            "-1",
            id="negative",
        ),
    ],
)
def test_a_damaged_baseline(tmp_path: Path, damage: Callable[[str], str], fragment: str) -> None:
    root, _ = toy_repo(tmp_path)
    path = root / BASELINE
    path.write_text(damage(path.read_text()), encoding="utf-8")
    commit_all(root, "damage the baseline")
    before = snapshot(root)
    done = run_gate(root, "perf", "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stderr
    line = error_line(done.stderr)
    assert fragment in line, line
    assert str(BASELINE) in line, line
    assert snapshot(root) == before


def test_no_baseline_at_all_is_reported_not_measured_against(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path, baseline=False)
    before = snapshot(root)
    assert before == {}
    done = run_gate(root, "perf", "--processes", "2", "--out", str(tmp_path / "out"))
    assert "update-baseline" in (tmp_path / "out" / "verdict.md").read_text()
    assert done.returncode in (0, 1), done.stderr
    assert snapshot(root) == before


@pytest.mark.parametrize("command", ["perf", "update-baseline"])
def test_a_benchmark_that_crashed_in_its_process(tmp_path: Path, command: str) -> None:
    root, _ = toy_repo(tmp_path)
    before = snapshot(root)
    done = run_gate(
        root, command, "--processes", "2", "--out", str(tmp_path / "out"), extra={"TOY_CRASH": "1"}
    )
    assert done.returncode == 2
    line = error_line(done.stderr)
    assert "failed (pytest exit 1): FAILED tests/benchmarks/test_toy.py::test_sum" in line
    assert "ZeroDivisionError: toy benchmark crashed" in line
    if command == "update-baseline":
        assert line.endswith(f"— {BASELINE} left as it was")
    assert snapshot(root) == before


# --- a -k that selects nothing, or that pytest cannot parse --------------------------------


def strict_toy(tmp_path: Path) -> Path:
    """The toy repository with `filterwarnings = error`, as this project's own pyproject has
    (pytest-benchmark's "no benchmarks run" warning then becomes a crash of the process)."""
    files = dict(TOY_FILES)
    files["pyproject.toml"] = files["pyproject.toml"].replace(
        "[tool.agui_perf]", 'filterwarnings = ["error"]\n\n[tool.agui_perf]'
    )
    root = write_toy(init_repo(tmp_path / "strict"), files)
    commit_all(root, "toy project")
    write_baseline(root / BASELINE, stored_results({"test_sum": 1e-3, "test_join": 2e-3}))
    commit_all(root, "accept the toy baseline")
    return root


def test_a_filter_that_selects_nothing_in_either_tree(tmp_path: Path) -> None:
    root = strict_toy(tmp_path)
    before = snapshot(root)
    done = run_gate(root, "perf", "-k", "zzz_no_such_benchmark", "--processes", "2")
    assert done.returncode == 2
    assert error_line(done.stderr) == (
        "agui-perf gate perf: error: -k 'zzz_no_such_benchmark' selects no benchmark in either "
        "tree (current: 0 of 2 collected, accepted: 0 of 2 collected) — check the names; pytest "
        "tests/benchmarks --collect-only -q -m 'not reference' lists them"
    )
    assert done.stderr.count(" timing round ") == 2  # one round, then the gate knows
    assert snapshot(root) == before
    assert git(root, "worktree", "list").count("\n") == 0
    update = run_gate(root, "update-baseline", "-k", "zzz_no_such_benchmark")
    assert update.returncode == 2
    assert error_line(update.stderr).startswith(
        "agui-perf gate update-baseline: error: -k 'zzz_no_such_benchmark' selects no benchmark "
        "in the current code (current: 0 of 2 collected) — check the names"
    )
    assert snapshot(root) == before


def test_a_filter_pytest_cannot_parse(tmp_path: Path) -> None:
    root = strict_toy(tmp_path)
    before = snapshot(root)
    done = run_gate(root, "perf", "-k", "((( and", "--processes", "2")
    assert done.returncode == 2
    assert error_line(done.stderr) == (
        "agui-perf gate perf: error: -k '((( and' is not a valid pytest -k expression: at column "
        "5: expected not OR left parenthesis OR identifier; got and — fix the expression: "
        "benchmark names (or parts of them) joined with and, or, not and parentheses, e.g. "
        "-k 'encode and not sdk'"
    )
    assert snapshot(root) == before
    assert git(root, "worktree", "list").count("\n") == 0


def test_a_filter_that_selects_only_new_benchmarks_measures_them(tmp_path: Path) -> None:
    root = strict_toy(tmp_path)
    bench = root / "tests" / "benchmarks" / "test_toy.py"
    bench.write_text(
        bench.read_text()
        + "\n\ndef test_new(benchmark):\n    benchmark.pedantic(sum, args=([1, 2],), rounds=5)\n"
    )
    out = tmp_path / "out"
    done = run_gate(root, "perf", "-k", "test_new", "--processes", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    [skipped] = [line for line in done.stderr.splitlines() if "has no benchmark" in line]
    assert skipped.startswith("[perf] the accepted code (")
    assert skipped.endswith(
        "has no benchmark matching -k 'test_new'; measuring the other side alone"
    )
    rounds = [line for line in done.stderr.splitlines() if " timing round " in line]
    assert [line.split(" · ")[1].split(" ")[0] for line in rounds] == [
        "accepted",
        "current",
        "current",
    ]
    verdict = json.loads((out / "verdict.json").read_text())
    assert [(b["name"], b["state"]) for b in verdict["benchmarks"]] == [("test_new", "new")]


# --- what a tired user does ------------------------------------------------------------------


def test_run_from_a_subfolder_of_the_project(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    before = snapshot(root)
    sub = root / "src" / "agui_perf"
    done = run_gate(sub, "perf", "--processes", "2")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == f"[perf] project root: {root.resolve()}"
    assert done.stdout.splitlines()[1] == f"report: {root.resolve() / '.perf' / 'report'}"
    assert json.loads((root / ".perf" / "report" / "verdict.json").read_text())["overall"] == "pass"
    assert not (sub / ".perf").exists()
    assert snapshot(root) == before


def test_run_outside_any_project(tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    (nowhere / "pyproject.toml").write_text("[project]\nname = 'no-benchmarks'\n")
    done = run_gate(nowhere, "perf")
    assert done.returncode == 2
    assert done.stderr == (
        f"agui-perf gate perf: error: no project here: no folder from {nowhere.resolve()} upwards "
        "holds both pyproject.toml and tests/benchmarks/ (or a [tool.agui_perf.layout] table "
        "naming another benchmarks folder) — run the gate inside the project\n"
    )
    assert list(nowhere.iterdir()) == [nowhere / "pyproject.toml"]  # not even .perf/


def test_a_dirty_tree_is_measured_and_said_to_be(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    init = root / "src" / "agui_perf" / "__init__.py"
    init.write_text(init.read_text() + "# an edit not yet committed\n")
    before = snapshot(root)
    out = tmp_path / "out"
    done = run_gate(root, "perf", "--processes", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert (
        "[perf] note: the current code has uncommitted changes in src/ — measured as the files "
        "are on disk, not as any commit"
    ) in done.stderr.splitlines()
    assert json.loads((out / "results-current.json").read_text())["source"]["dirty"] is True
    assert snapshot(root) == before
    assert init.read_text().endswith("# an edit not yet committed\n")


def test_a_detached_head(tmp_path: Path) -> None:
    root, accepted = toy_repo(tmp_path)
    git(root, "checkout", "-q", "--detach", "HEAD")
    out = tmp_path / "out"
    done = run_gate(root, "perf", "--processes", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "note: the current code has uncommitted changes" not in done.stderr
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["accepted"]["commit"] == accepted
    assert git(root, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD"  # still detached


@pytest.mark.parametrize("command", ["perf", "update-baseline"])
def test_a_disk_that_fills_up_while_the_report_or_baseline_is_written(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agui_perf.gate.report import write
    from agui_perf.gate.store import baseline

    root, _ = toy_repo(tmp_path)
    before = snapshot(root)
    out = tmp_path / "out"
    # The disk is full from the second report file on (the error verdict too), or from the
    # baseline file on: every fsync of a file being written fails as ext4 fails it.
    full: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    module: Any = write if command == "perf" else baseline
    real_write = module.atomic_write_text

    def filling(path: str, text: str) -> None:
        if command == "update-baseline":
            full.append(path)
        real_write(path, text)
        full.append(path)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(module, "atomic_write_text", filling)
    monkeypatch.chdir(root)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert cli_main(["gate", command, "--processes", "2", "--out", str(out)]) == 2

    line = error_line(capsys.readouterr().err)
    if command == "perf":
        assert line.startswith("agui-perf gate perf: error: cannot write '")
        assert "(No space left on device)" in line
    else:
        assert line == (
            "agui-perf gate update-baseline: error: No space left on device "
            f"({root.resolve() / BASELINE}) — free some disk space and run the gate again — "
            f"{BASELINE} left as it was"
        )
    assert snapshot(root) == before
    # No file is left half-written: no temporary file, and every file there is whole.
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    for path in out.glob("*.json"):
        json.loads(path.read_text())
    verdict = out / "verdict.json"
    assert not verdict.exists() or json.loads(verdict.read_text())["overall"] == "error"
    assert git(root, "worktree", "list").count("\n") == 0


# --- the real thing, end to end -------------------------------------------------------------


def test_update_baseline_then_perf_end_to_end(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path, baseline=False)
    out = tmp_path / "report"

    update = run_gate(root, "update-baseline", "--processes", "2", "--out", str(out))
    assert update.returncode == 0, update.stderr
    assert update.stdout.startswith(f"wrote {BASELINE} (measured at ")
    assert "test_sum" in update.stdout
    assert "toy_alloc" in update.stdout
    assert "\ncomparable across machines (memory, allocation counts" in update.stdout
    assert "\ntimings: measured on this machine now:\n" in update.stdout
    stored = read_baseline(root / BASELINE, expected_key=KEY)
    assert set(stored.results.benchmarks) == {"test_join", "test_sum"}
    assert len(stored.results.benchmarks["test_sum"].samples) == 2
    assert set(stored.results.memory) == {"toy_alloc"}
    accepted = commit_all(root, "accept the toy baseline")

    # A change of the code but not of its speed: 2 processes a side plus the extension's 4
    # could call a real slowdown (sum(list(range(n))) was one), and this test is about the
    # chain, not the statistics (tests/gate/test_decision_power.py is).
    (root / "src" / "agui_perf" / "__init__.py").write_text(
        "SIZE = 2000\n\n\ndef work(n):\n    total = sum(range(n))\n    return total\n"
    )
    before = snapshot(root)
    done = run_gate(root, "perf", "--processes", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("PASS: ")
    progress = done.stderr.splitlines()
    rounds = [line for line in progress if " timing round " in line]
    assert [line.split(" · ")[1].split(" ")[0] for line in rounds] == [
        "accepted",
        "current",
        "accepted",
        "current",
    ]
    assert rounds[0].startswith(f"[perf] timing round 1/2 · accepted ({accepted[:10]})")
    assert f"[perf] trend over 1 commit that changed {BASELINE} and this run" in progress
    assert snapshot(root) == before
    # The trend: the accepted commit and this run, in both reports.
    markdown = (out / "verdict.md").read_text()
    assert "### Trend" in markdown
    assert f"{accepted[:7]} (" in markdown
    assert "<summary>Time per call (2)</summary>" in markdown
    page = (out / "report.html").read_text()
    assert '<section id="trend">' in page
    assert 'id="chart-agui-perf-trend-time"' in page

    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["accepted"]["found"] is True
    assert verdict["accepted"]["commit"] == accepted
    assert {b["name"] for b in verdict["benchmarks"]} == {"test_join", "test_sum"}
    assert [m["state"] for m in verdict["memory"]] == ["unchanged"]
    # Each side imported its own agui_perf: the worktree's, and the working tree's.
    worktree_src = root.resolve() / ".perf" / "worktrees" / accepted / "src"
    base = json.loads((out / "results-accepted.json").read_text())
    cur = json.loads((out / "results-current.json").read_text())
    base_file = Path(str(base["benchmarks"]["test_sum"]["extra_info"]["agui_perf_file"]))
    cur_file = Path(str(cur["benchmarks"]["test_sum"]["extra_info"]["agui_perf_file"]))
    assert base_file.resolve().is_relative_to(worktree_src)
    assert cur_file.resolve() == (root / "src" / "agui_perf" / "__init__.py").resolve()
    assert base["source"]["commit"] == accepted
    assert cur["source"]["dirty"] is True
    assert not (root / ".perf" / "worktrees" / accepted).exists()
    assert git(root, "worktree", "list").count("\n") == 0


# --- the parser, in process -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--processes", "0"], "argument --processes: must be a whole number from 1 to 100"),
        (["--processes", "two"], "argument --processes: must be a whole number from 1 to 100"),
        (["--min-effect", "0"], "argument --min-effect: must be a fraction between 0 and 1"),
        (["--min-effect", "1"], "argument --min-effect: must be a fraction between 0 and 1"),
        (["--min-effect", "10%"], "argument --min-effect: must be a fraction between 0 and 1"),
        (["--scale", "0"], "argument --scale: must be a number in (0, 100]"),
        (["--scale", "nan"], "argument --scale: must be a number in (0, 100]"),
        (["-k", " "], "argument -k/--filter: must not be empty"),
        (["--ref", ""], "argument --ref: must not be empty"),
        (["--out"], "argument --out: expected one argument"),
        (["--history", "-1"], "argument --history: must be a whole number from 0 (no trend) to"),
        (["--history", "1001"], "argument --history: must be a whole number from 0 (no trend)"),
        (["--history", "all"], "argument --history: must be a whole number from 0 (no trend)"),
        (["extra"], "unrecognized arguments: extra"),
    ],
)
def test_bad_options_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli_main(["gate", "perf", *argv])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"agui-perf gate perf: error: {message}")


def cli_main(argv: list[str]) -> int:
    from agui_perf.cli import main

    return main(argv)


def test_options_and_defaults(tmp_path: Path) -> None:
    from agui_perf.cli import build_parser

    root = write_toy(tmp_path / "project")
    args = build_parser().parse_args(["gate", "update-baseline"])
    assert args.handler is cli.run_update_baseline
    options = cli.options_from_args(args, cwd=root / "src" / "agui_perf")
    assert options.root == root.resolve()
    assert (options.keyword, options.processes, options.min_effect, options.ref) == (None,) * 4
    # The default report folder is the project's, wherever in it the gate was started.
    assert options.out == root.resolve() / ".perf" / "report"
    assert options.scale == DEFAULT_SCALE
    assert options.history == 0  # update-baseline draws no trend
    perf_args = build_parser().parse_args(["gate", "perf"])
    assert cli.options_from_args(perf_args, cwd=root).history == cli.DEFAULT_HISTORY == 30
    no_trend = build_parser().parse_args(["gate", "perf", "--history", "0"])
    assert cli.options_from_args(no_trend, cwd=root).history == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["gate", "update-baseline", "--history", "5"])
    args = build_parser().parse_args(
        [
            "gate",
            "perf",
            "-k",
            "encode",
            "--processes",
            "9",
            "--min-effect",
            "0.05",
            "--ref",
            "main",
            "--out",
            "r",
            "--scale",
            "2",
        ]
    )
    assert args.handler is cli.run_perf
    options = cli.options_from_args(args)
    assert (options.keyword, options.processes, options.min_effect) == ("encode", 9, 0.05)
    assert (options.ref, options.out, options.scale) == ("main", Path("r"), 2.0)


def test_format_diff() -> None:
    rows = [
        DiffRow("test_encode", "median s", 1.0e-3, 1.1e-3, 10.0),
        DiffRow("test_new", "median s", None, 2.0e-6, None),
        DiffRow("test_gone", "median s", 5.0e-3, None, None),
        DiffRow("stream", "peak bytes", 2 * 1024 * 1024, 2 * 1024 * 1024, 0.0),
        DiffRow("stream", "allocations", 9000, 9090, 1.0),
    ]
    assert cli.format_diff(rows) == [
        "  test_encode  median s     1.00 ms → 1.10 ms    +10.0 %",
        "  test_new     median s     — → 2.00 µs          new",
        "  test_gone    median s     5.00 ms → —          removed",
        "  stream       peak bytes   2.00 MiB → 2.00 MiB  +0.0 %",
        "  stream       allocations  9,000 → 9,090        +1.0 %",
    ]
    assert cli.format_diff([]) == []


def test_format_timings_shows_no_change() -> None:
    rows = [
        DiffRow("test_encode", "median s", 1.0e-3, 1.9e-3, 90.0),
        DiffRow("test_new", "median s", None, 2.0e-6, None),
        DiffRow("test_gone", "median s", 5.0e-3, None, None),
        DiffRow("test_kept", "median s", 3.0e-3, 3.0e-3, 0.0),
    ]
    assert cli.format_timings(rows, kept=["test_kept"]) == [
        "  test_encode  median s  now 1.90 ms  (stored 1.00 ms)",
        "  test_new     median s  now 2.00 µs  new",
        "  test_gone    median s  —            removed",
        "  test_kept    median s  now 3.00 ms  kept: not selected by -k",
    ]
    assert "%" not in "".join(cli.format_timings(rows))


def test_the_update_printout_separates_comparable_figures_from_timings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agui_perf.gate.pipeline import BaselineUpdate
    from agui_perf.gate.store.results import Source

    update = BaselineUpdate(
        path=BASELINE,
        rows=[
            DiffRow("test_concurrent_streams", "median s", 0.047, 0.0905, 92.5),
            DiffRow("stream", "peak bytes", 2 * 1024 * 1024, 2 * 1024 * 1024, 0.0),
            DiffRow("stream", "allocations", 9000, 9090, 1.0),
            DiffRow("test_encode", "instructions/call", 1000, 1000, 0.0),
        ],
        source=Source(commit="c" * 40, tree_hash="", dirty=False),
        previous_note=None,
        kept=[],
        stored_from="AMD EPYC, CPython 3.11.2, measured at aaaaaaaaaa, committed 2026-11-28 in "
        "bbbbbbbbbb",
        environment_changes=("cpu_model 'AMD EPYC' vs 'Intel Xeon'",),
    )
    cli._print_update(update)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"wrote {BASELINE} (measured at cccccccccc, src/ clean)",
        "comparable across machines (memory, allocation counts, instruction counts: "
        "deterministic, so a change here is a change of the code or its environment):",
        "  stream       peak bytes         2.00 MiB → 2.00 MiB  +0.0 %",
        "  stream       allocations        9,000 → 9,090        +1.0 %",
        "  test_encode  instructions/call  1,000 → 1,000        +0.0 %",
        "note: the stored file was measured in another environment (cpu_model 'AMD EPYC' vs "
        "'Intel Xeon'): memory and instruction counts can differ for that reason alone",
        "timings: measured on this machine now; the stored ones came from AMD EPYC, CPython "
        "3.11.2, measured at aaaaaaaaaa, committed 2026-11-28 in bbbbbbbbbb — not compared:",
        "  test_concurrent_streams  median s  now 90.5 ms  (stored 47.0 ms)",
        f"accept the change: git add {BASELINE} and commit it with the code",
    ]
    # The cross-machine timing delta is not printed as a change.
    assert not any("92.5" in line for line in out)


def test_the_gate_parser_does_not_import_the_gate_stack() -> None:
    # `agui-perf serve` builds the same parser; without the gate extras it must still start.
    code = (
        "import sys, agui_perf.cli; agui_perf.cli.build_parser(); "
        "print(sorted(m for m in ('scipy', 'memray', 'pygal') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=gate_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("command", ["perf", "update-baseline"])
def test_an_os_error_mid_run_is_one_line(
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agui_perf.gate import pipeline

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", "/data/.perf/runs")

    monkeypatch.setattr(pipeline, command.replace("-", "_"), full_disk)
    monkeypatch.chdir(write_toy(tmp_path / "project"))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    assert cli_main(["gate", command, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(
        f"agui-perf gate {command}: error: No space left on device (/data/.perf/runs) "
        "— free some disk space and run the gate again"
    )


def test_sigterm_interrupts_like_ctrl_c() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt) as caught, cli.interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
    assert isinstance(caught.value, cli.Interrupted)
    assert caught.value.signal_name == "SIGTERM"
    # The previous handler is back once the gate is done.
    assert signal.getsignal(signal.SIGTERM) == before


def test_a_second_signal_does_not_cut_the_cleanup_short() -> None:
    cleaned: list[str] = []

    def stopped_twice() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # ignored: the first one is being handled
            cleaned.append("done")

    with pytest.raises(KeyboardInterrupt), cli.interrupts():
        stopped_twice()
    assert cleaned == ["done"]


def test_an_inherited_ignored_sigint_stays_ignored() -> None:
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with cli.interrupts():
            assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
