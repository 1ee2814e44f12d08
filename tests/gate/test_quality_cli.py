"""`python -m agui_perf.gate.quality` as the lead runs it: options, refusals, and the toy suite
end to end (clones, a slowdown, true effect, gate runs), with nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.quality.copies import TEMP_PREFIX, gate_ref
from agui_perf.gate.quality.inject import Work
from agui_perf.gate.quality.options import PROG, parse_config
from tests._support.gate_cli import gate_env
from tests._support.git import commit_all, git
from tests._support.toy import BASELINE, toy_repo, write_toy

if TYPE_CHECKING:
    from collections.abc import Mapping

TIMEOUT = 300.0


def quality_env(tmp: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The gate's test environment, with the temporary copies in a folder the test watches."""
    tmp.mkdir(exist_ok=True)
    return gate_env({"TMPDIR": str(tmp), **(extra or {})})


def run_quality(
    root: Path, tmp: Path, *args: str, extra: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agui_perf.gate.quality", *args],
        cwd=root,
        env=quality_env(tmp, extra),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def error_line(stderr: str) -> str:
    """The one error line, last on stderr; only progress lines before it; no traceback."""
    lines = stderr.splitlines()
    assert "Traceback" not in stderr
    assert lines
    assert lines[-1].startswith(f"{PROG}: error: "), stderr
    assert all(line.startswith("[quality] ") for line in lines[:-1]), stderr
    return lines[-1].removeprefix(f"{PROG}: error: ")


def strays(folder: Path) -> list[str]:
    """Processes still working in `folder` (their cwd is in it), by pid and command."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cwd.startswith(str(folder)):
            found.append(f"{entry.name}: {command}")
    return found


def assert_nothing_left(root: Path, tmp: Path) -> None:
    assert list(tmp.iterdir()) == []
    assert strays(tmp) == []
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "worktree", "list").count("\n") == 0


# --- options: one line, exit 2 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--runs", "0"], "argument --runs: must be a whole number from 1 to 100"),
        (["--runs", "x"], "argument --runs: must be a whole number from 1 to 100"),
        (["--effect", "0"], "argument --effect: must be a fraction above 0 and at most 5"),
        (["--effect", "nan"], "argument --effect: must be a fraction above 0 and at most 5"),
        (["--effect", "12.5%"], "argument --effect: must be a fraction above 0 and at most 5"),
        (["--iterations", "0"], "argument --iterations: must be a whole number from 1 to"),
        (["--iterations", "1e3"], "argument --iterations: must be a whole number from 1 to"),
        (["--inject", "encode_many"], "argument --inject: is not MODULE:FUNCTION"),
        (["--work", "io"], "argument --work: invalid Work value: 'io'"),
        (["--effect", "0.1"], "--effect and --iterations size a slowdown: name the function"),
        (["--inject", "m:f"], "--inject needs a size: --effect F (with --benchmark)"),
        (["--inject", "m:f", "--effect", "0.1"], "--effect is a target effect on a benchmark"),
        (
            ["--inject", "m:f", "--effect", "0.1", "--iterations", "5"],
            "argument --iterations: not allowed with argument --effect",
        ),
        (["--inject", "m:f", "--iterations", "5", "5"], "--iterations lists a value twice"),
        (["--no-unchanged"], "--no-unchanged leaves no case to run"),
        (["--all-benchmarks"], "--all-benchmarks measures the effect of a slowdown"),
        (["--gate-args", "'open"], "argument --gate-args: No closing quotation"),
        (["--gate-args", "--out x"], "the gate options must not set --out"),
        (["--", "--out=x"], "the gate options must not set --out"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_config(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"{PROG}: error: {message}")


@pytest.mark.parametrize(
    "argv",
    [
        ["--gate-args", "--processes 0"],
        ["--", "--min-effect", "2"],
        ["--", "extra"],
    ],
)
def test_bad_gate_options_are_the_gates_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_config(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("agui-perf gate perf: error: ")


def test_options() -> None:
    config = parse_config(
        [
            "--runs",
            "3",
            "--inject",
            "agui_perf.stream.encoder:encode_many",
            "--work",
            "alloc",
            "--effect",
            "0.125",
            "0.05",
            "--benchmark",
            "b[x]",
            "--gate-args",
            "--processes 8 -k 'encode or verify'",
            "--",
            "--scale",
            "0.5",
        ]
    )
    assert config.runs == 3
    assert [c.id for c in config.cases] == ["unchanged", "alloc-12.5pct", "alloc-5pct"]
    assert config.cases[1].target_effect == 0.125
    assert config.cases[1].work is Work.ALLOC
    assert config.gate_args == ("--processes", "8", "-k", "encode or verify", "--scale", "0.5")
    assert (config.scale, config.keyword, config.ref_given) == (0.5, "encode or verify", False)
    assert str(config.target) == "agui_perf.stream.encoder:encode_many"
    plain = parse_config([])
    assert [c.id for c in plain.cases] == ["unchanged"]
    assert plain.runs == 5
    assert plain.out == Path(".perf/quality")
    sized = parse_config(["--no-unchanged", "--inject", "m:f", "--iterations", "1_000", "20"])
    assert [(c.id, c.iterations) for c in sized.cases] == [("cpu-1000it", 1000), ("cpu-20it", 20)]
    assert parse_config(["--", "--ref", "HEAD~1"]).ref_given


# --- the accepted side --------------------------------------------------------------------


def test_unchanged_means_unchanged(tmp_path: Path) -> None:
    root, accepted = toy_repo(tmp_path)
    assert gate_ref(root, BASELINE, accepted).ref is None
    # A later commit under baselines/ only keeps the gate's own accepted commit.
    (root / "baselines" / "README").write_text("x\n")
    head = commit_all(root, "notes on baselines")
    assert gate_ref(root, BASELINE, head).ref is None
    # Anything else changed after the baseline (the code, a benchmark, the pytest settings):
    # "unchanged" copies are compared with HEAD instead.
    (root / "src" / "agui_perf" / "__init__.py").write_text(
        "SIZE = 2000\n\ndef work(n): return 0\n"
    )
    head = commit_all(root, "faster")
    decided = gate_ref(root, BASELINE, head)
    assert decided.ref == head
    assert f"the accepted commit {accepted[:10]} has other code than HEAD" in decided.reason
    bare, first = toy_repo(tmp_path / "bare", baseline=False)
    assert gate_ref(bare, BASELINE, first).ref == first


# --- refusals in a project ------------------------------------------------------------------


def test_a_function_or_benchmark_that_is_not_there(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    tmp = tmp_path / "tmp"
    done = run_quality(root, tmp, "--inject", "agui_perf:nope", "--iterations", "10")
    assert done.returncode == 2
    assert error_line(done.stderr) == (
        "src/agui_perf/__init__.py has no function or method 'nope' — it has: work"
    )
    done = run_quality(root, tmp, "--inject", "agui_perf.missing:work", "--iterations", "10")
    assert done.returncode == 2
    assert error_line(done.stderr).startswith("no module 'agui_perf.missing' in the project")
    done = run_quality(
        root, tmp, "--inject", "agui_perf:work", "--effect", "0.1", "--benchmark", "test_summ"
    )
    assert done.returncode == 2
    assert error_line(done.stderr) == (
        "unknown benchmark 'test_summ' — the gate's benchmarks are: test_sum, test_join"
    )
    assert not (root / ".perf" / "quality" / "quality.json").exists()
    assert_nothing_left(root, tmp)


def test_a_dirty_tree_is_refused_and_outside_git_too(tmp_path: Path) -> None:
    root, head = toy_repo(tmp_path)
    tmp = tmp_path / "tmp"
    (root / "src" / "agui_perf" / "__init__.py").write_text("SIZE = 1\n\ndef work(n): return 0\n")
    done = run_quality(root, tmp)
    assert done.returncode == 2
    assert error_line(done.stderr) == (
        "the project has uncommitted changes (M src/agui_perf/__init__.py); the copies are made "
        f"from HEAD ({head[:10]}) and would not contain them — commit them, or pass "
        "--allow-dirty to measure HEAD anyway"
    )
    plain = write_toy(tmp_path / "plain")
    done = run_quality(plain, tmp)
    assert done.returncode == 2
    assert error_line(done.stderr).startswith("verdict-quality copies the project with git, but")
    assert list(tmp.iterdir()) == []


def test_a_gate_run_that_fails_stops_the_harness(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    tmp = tmp_path / "tmp"
    done = run_quality(root, tmp, "--", "--processes", "2", extra={"TOY_CRASH": "1"})
    assert done.returncode == 2
    line = error_line(done.stderr)
    log = root / ".perf" / "quality" / "runs" / "unchanged" / "run-01" / "gate.log"
    assert line.startswith("the gate failed on unchanged (A/A): benchmark process 1 of the")
    assert "ZeroDivisionError: toy benchmark crashed" in line
    assert line.endswith(f"— see {log.resolve()}")
    assert "[perf] timing round 1/2" in log.read_text()
    assert not (root / ".perf" / "quality" / "quality.json").exists()
    assert_nothing_left(root, tmp)


# --- the real thing, end to end -------------------------------------------------------------


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_unchanged_and_a_slowdown_end_to_end(tmp_path: Path) -> None:
    root, accepted = toy_repo(tmp_path)
    tmp = tmp_path / "tmp"
    source = (root / "src" / "agui_perf" / "__init__.py").read_text()
    done = run_quality(
        root,
        tmp,
        "--runs",
        "1",
        "--inject",
        "agui_perf:work",
        "--iterations",
        "2000",
        "--benchmark",
        "test_sum",
        "--effect-processes",
        "2",
        "--",
        "--processes",
        "2",
    )
    assert done.returncode == 0, done.stderr
    progress = done.stderr.splitlines()
    assert all(line.startswith("[quality] ") for line in progress), done.stderr
    assert f"[quality] accepted commit {accepted[:10]} is HEAD" in progress
    assert any(
        line.startswith("[quality] gate run 2/2 · cpu 2,000 iterations (1/1) · ~")
        for line in progress
    )

    tables = _tables(done.stdout)
    assert len(tables) == 2
    cases, benchmarks = tables
    assert [row[0] for row in cases] == ["unchanged (A/A)", "cpu 2,000 iterations"]
    assert [row[1] for row in cases] == ["—", "2,000"]
    assert cases[0][3] == "—"
    assert cases[1][3].startswith("+")  # the true effect on test_sum: slower
    assert cases[0][4:7] == ["1", "0", "0"]  # A/A: one run, not failed, no error
    # +100 % or so on test_sum: the first pass (2 a side) cannot settle it, the extension
    # (4 more a side) usually does — failing the run is right, and so is "inconclusive".
    assert cases[1][4] == "1"
    assert cases[1][5] in {"0", "1"}
    assert cases[1][6] == "0"
    assert [(row[0], row[1]) for row in benchmarks] == [
        ("unchanged (A/A)", "test_join"),
        ("unchanged (A/A)", "test_sum"),
        ("unchanged (A/A)", "memory: toy_alloc"),
        ("cpu 2,000 iterations", "test_join"),
        ("cpu 2,000 iterations", "test_sum"),
        ("cpu 2,000 iterations", "memory: toy_alloc"),
    ]
    # Every row has one run and one state; the true effect only where it was measured.
    assert all(
        row[2] == "1" and sum(map(int, row[4:10])) + (row[10] != "0") == 1 for row in benchmarks
    )
    assert [row[11] != "—" for row in benchmarks] == [False, False, False, False, True, False]

    out = root / ".perf" / "quality"
    data = json.loads((out / "quality.json").read_text())
    assert data["head"] == accepted
    assert [c["id"] for c in data["cases"]] == ["unchanged", "cpu-2000it"]
    slowed = data["cases"][1]
    assert slowed["true_effects"]["test_sum"]["ratio"] > 1.0
    assert slowed["true_effects"]["test_sum"]["processes"] == 2
    assert (out / "quality.md").read_text().count("| cpu 2,000 iterations") == 4
    for case in data["cases"]:
        (run,) = case["gate_runs"]
        assert run["exit_code"] == (0 if case["id"] == "unchanged" else int(cases[1][5]))
        assert "[perf] timing round 2/2" in Path(run["log"]).read_text()
        verdict = json.loads((Path(run["report"]) / "verdict.json").read_text())
        assert verdict["accepted"]["commit"] == accepted
    # The slowed gate run measured the slowed copy, in the temporary folder, as its current code.
    current = json.loads(
        (Path(slowed["gate_runs"][0]["report"]) / "results-current.json").read_text()
    )
    measured = Path(str(current["benchmarks"]["test_sum"]["extra_info"]["agui_perf_file"]))
    assert measured.is_relative_to(tmp)
    assert measured.parts[len(tmp.parts)].startswith(TEMP_PREFIX)
    assert measured.parts[len(tmp.parts) + 1] == "cpu-2000it"
    assert current["source"]["dirty"] is True
    # Nothing left behind, and the project itself untouched.
    assert (root / "src" / "agui_perf" / "__init__.py").read_text() == source
    assert_nothing_left(root, tmp)


def _tables(stdout: str) -> list[list[list[str]]]:
    """The rows (without header and rule) of each table printed on stdout."""
    tables: list[list[list[str]]] = []
    for line in stdout.splitlines():
        if line.startswith("| case"):
            tables.append([])
        elif line.startswith("| ") and tables:
            tables[-1].append(_cells(line))
    return tables


def _wait_for(path: Path, text: str, proc: subprocess.Popen[str]) -> None:
    """Until `path` holds `text` (the gate's own progress), or the harness ended."""
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if text in path.read_text(encoding="utf-8", errors="replace"):
                return
        except FileNotFoundError:
            pass
        try:
            proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            continue
    pytest.fail(f"the harness ended or hung before {path} said {text!r}")


def test_sigterm_mid_gate_run_cleans_up(tmp_path: Path) -> None:
    root, _ = toy_repo(tmp_path)
    tmp = tmp_path / "tmp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "agui_perf.gate.quality", "--runs", "1", "--", "--processes", "2"],
        cwd=root,
        env=quality_env(tmp),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        log = root / ".perf" / "quality" / "runs" / "unchanged" / "run-01" / "gate.log"
        _wait_for(log, "[perf] timing round 1/2 · current", proc)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 2
    assert error_line(stderr) == "interrupted — the copies were removed; no report written"
    assert stdout == ""
    assert not (root / ".perf" / "quality" / "quality.json").exists()
    assert_nothing_left(root, tmp)
