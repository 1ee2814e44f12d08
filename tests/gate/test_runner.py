"""gate.runner: interleaving, progress, commands, failures — with injected fake launchers."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.runner import (
    CALIBRATION_PLUGIN,
    PLUGIN_DIR,
    SCALE_ENV,
    Job,
    RunOptions,
    Side,
    format_duration,
    job_env,
    keyword_filter,
    merge_side,
    pytest_command,
    run_interleaved,
    run_process,
)
from agui_perf.gate.progress import LOGGER
from agui_perf.gate.store.results import ProcessRun
from tests._support.processes import wait_until_gone
from tests._support.results import pb_doc, pb_entry

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path


def make_sides(tmp_path: Path) -> list[Side]:
    sides = []
    for label, revision in (("accepted", "abc1234567"), ("current", "working tree")):
        root = tmp_path / label
        (root / "tests" / "benchmarks").mkdir(parents=True)
        (root / "src").mkdir()
        sides.append(Side(label, root, revision))
    return sides


def test_a_side_without_a_source_folder_of_the_layout_is_refused(tmp_path: Path) -> None:
    # Without its source folder the installed package would be measured in its place.
    sides = make_sides(tmp_path)
    (sides[0].root / "src").rmdir()
    calls: list[Job] = []
    with pytest.raises(GateError) as err:
        run_interleaved(
            sides,
            RunOptions(processes=2),
            tmp_path / "out",
            launcher=writing_launcher(lambda job: {"t": 1.0}, calls),
        )
    assert str(err.value) == (
        "the accepted code (abc1234567) has no src folder (the current tree's "
        "[tool.agui_perf.layout].source, which both sides use) — nothing to measure there; "
        "pass --ref with a commit that has it"
    )
    assert calls == []


def writing_launcher(
    medians: Callable[[Job], Mapping[str, float]], calls: list[Job] | None = None
) -> Callable[[Job], int]:
    """A launcher that writes pytest-benchmark JSON instead of running pytest."""

    def launch(job: Job) -> int:
        if calls is not None:
            calls.append(job)
        entries = [pb_entry(name, [m * 0.98, m, m * 1.02]) for name, m in medians(job).items()]
        job.json_path.write_text(json.dumps(pb_doc(*entries)), encoding="utf-8")
        return 0

    return launch


class FakeClock:
    """Each job "takes" the next duration; progress is computed from these, not the wall."""

    def __init__(self, durations: list[float]) -> None:
        self.now = 0.0
        self.durations = durations
        self.calls = 0

    def __call__(self) -> float:
        # Called once before and once after each job.
        if self.calls % 2 == 1:
            self.now += self.durations[self.calls // 2]
        self.calls += 1
        return self.now


def test_sides_alternate_a_b_a_b(tmp_path: Path) -> None:
    calls: list[Job] = []
    sides = make_sides(tmp_path)
    runs = run_interleaved(
        sides,
        RunOptions(processes=3),
        tmp_path / "out",
        launcher=writing_launcher(lambda job: {"test_a": 1.0}, calls),
    )
    order = [(job.side.label, job.round) for job in calls]
    assert order == [
        ("accepted", 1),
        ("current", 1),
        ("accepted", 2),
        ("current", 2),
        ("accepted", 3),
        ("current", 3),
    ]
    assert [len(runs[label]) for label in ("accepted", "current")] == [3, 3]
    assert calls[0].json_path == tmp_path / "out" / "accepted" / "process-01.json"
    assert calls[5].log_path == tmp_path / "out" / "current" / "process-03.log"
    assert {job.cwd for job in calls} == {side.root for side in sides}


def test_each_process_gives_one_sample_per_benchmark(tmp_path: Path) -> None:
    sides = make_sides(tmp_path)

    def medians(job: Job) -> dict[str, float]:
        base = 1.0 if job.side.label == "accepted" else 2.0
        return {"test_a": base * job.round, "test_b": 0.5}

    runs = run_interleaved(
        sides, RunOptions(processes=3), tmp_path, launcher=writing_launcher(medians)
    )
    current = merge_side(sides[1], runs["current"])
    assert current["test_a"].samples == (2.0, 4.0, 6.0)
    assert merge_side(sides[0], runs["accepted"])["test_a"].samples == (1.0, 2.0, 3.0)
    assert set(merge_side(sides[1], runs["current"], only=["test_b"])) == {"test_b"}


def test_progress_names_side_round_and_time_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    run_interleaved(
        make_sides(tmp_path),
        RunOptions(processes=2),
        tmp_path,
        launcher=writing_launcher(lambda job: {"t": 1.0}),
        clock=FakeClock([10.0, 30.0, 10.0, 30.0]),
    )
    assert caplog.messages == [
        "timing round 1/2 · accepted (abc1234567) · estimating time left",
        # Only the accepted side's 10 s is known: the current side is estimated from it.
        "timing round 1/2 · current (working tree) · ~30s left",
        # Per side: one accepted (10 s each) and one current (30 s each) process are left.
        "timing round 2/2 · accepted (abc1234567) · ~40s left",
        "timing round 2/2 · current (working tree) · ~30s left",
    ]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (0.2, "1s"), (59.5, "1m00s"), (61, "1m01s"), (600, "10m00s")]
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_pytest_command_runs_the_sides_own_suite(tmp_path: Path) -> None:
    side = make_sides(tmp_path)[0]
    options = RunOptions(processes=2, min_rounds=9, max_time=0.25, keyword="encode and not sdk")
    command = pytest_command(side, tmp_path / "p.json", options)
    assert command[:4] == (sys.executable, "-m", "pytest", str(side.root / "tests" / "benchmarks"))
    assert f"--rootdir={side.root}" in command
    assert "--benchmark-only" in command
    assert command[command.index("no:codspeed") - 1] == "-p"  # plain pytest-benchmark timing
    assert f"--benchmark-json={tmp_path / 'p.json'}" in command
    assert "--benchmark-min-rounds=9" in command
    assert "--benchmark-max-time=0.25" in command
    assert command[-2:] == ("-k", "encode and not sdk")
    # The SDK and reference-server variants are measured for ratios, never guarded.
    assert command[-8:-6] == ("-m", "not reference")
    assert command[-6:-4] == ("-p", CALIBRATION_PLUGIN)
    # A process that ran no benchmark must exit with pytest's own status, whatever the
    # tree's filterwarnings say about pytest-benchmark's "Not saving anything" warning.
    assert command[-4:-2] == ("-W", "ignore:Not saving anything")
    assert "-k" not in pytest_command(side, tmp_path / "p.json", RunOptions(processes=1))


def test_job_env_puts_the_side_src_first_and_sets_the_scale(tmp_path: Path) -> None:
    side = make_sides(tmp_path)[0]
    env = job_env(side, RunOptions(processes=1, scale=0.5), {"PYTHONPATH": "/x", "KEEP": "1"})
    # The calibration plugin's folder comes last: it must never shadow the side's own code.
    assert env["PYTHONPATH"] == os.pathsep.join([str(side.root / "src"), "/x", str(PLUGIN_DIR)])
    assert env[SCALE_ENV] == "0.5"
    assert env["KEEP"] == "1"
    assert job_env(side, RunOptions(processes=1), {})["PYTHONPATH"] == os.pathsep.join(
        [str(side.root / "src"), str(PLUGIN_DIR)]
    )


def test_keyword_filter() -> None:
    assert keyword_filter(["test_a[ours]", "test_b"]) == "test_a[ours] or test_b"
    assert keyword_filter(["test_a"], "encode") == "(encode) and (test_a)"
    # Parameters -k cannot spell select the function (the caller keeps only the names it asked).
    assert keyword_filter(["test_c[x=1, y]", "test_c[x=2, y]"]) == "test_c"
    with pytest.raises(GateError):
        keyword_filter([])


def test_a_server_cpu_row_is_selected_by_the_benchmark_that_measures_it() -> None:
    names = ["test_s[ours] · server CPU", "test_w · server CPU", "test_s[ours]"]
    assert keyword_filter(names) == "test_s[ours] or test_w"


def test_a_crashed_benchmark_is_one_line_naming_it(tmp_path: Path) -> None:
    def launch(job: Job) -> int:
        job.log_path.write_text(
            "F.\n=== short test summary info ===\n"
            "FAILED tests/benchmarks/test_x.py::test_boom - ZeroDivisionError: division by zero\n"
            "1 failed, 1 passed in 0.1s\n"
        )
        return 1

    with pytest.raises(GateError) as caught:
        run_interleaved(make_sides(tmp_path), RunOptions(processes=2), tmp_path, launcher=launch)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(
        "benchmark process 1 of the accepted code (abc1234567) failed (pytest exit 1): "
        "FAILED tests/benchmarks/test_x.py::test_boom - ZeroDivisionError: division by zero"
    )
    assert str(tmp_path / "accepted" / "process-01.log") in message


def test_a_benchmark_missing_from_one_process_is_an_error(tmp_path: Path) -> None:
    sides = make_sides(tmp_path)[1:]

    def medians(job: Job) -> dict[str, float]:
        return {"test_a": 1.0, "test_b": 1.0} if job.round == 1 else {"test_a": 1.0}

    runs = run_interleaved(
        sides, RunOptions(processes=2), tmp_path, launcher=writing_launcher(medians)
    )
    with pytest.raises(GateError, match=r"^current code \(working tree\): .*'test_b' is missing"):
        merge_side(sides[0], runs["current"])


@pytest.mark.parametrize("status", [5, 0])
def test_a_side_with_nothing_selected_runs_once(
    tmp_path: Path, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    # 5: pytest collected nothing; 0 without a JSON file: only tests without the benchmark
    # fixture were selected (skipped by --benchmark-only, so pytest-benchmark saved nothing).
    calls: list[Job] = []
    writer = writing_launcher(lambda job: {"test_new": 1.0})

    def launch(job: Job) -> int:
        calls.append(job)
        return status if job.side.label == "accepted" else writer(job)

    caplog.set_level(logging.INFO, logger=LOGGER)
    runs = run_interleaved(
        make_sides(tmp_path), RunOptions(processes=3, keyword="new"), tmp_path, launcher=launch
    )
    origin = f"benchmark results '{tmp_path / 'accepted' / 'process-01.json'}'"
    assert runs["accepted"] == [ProcessRun(origin=origin, benchmarks={})]
    assert merge_side(make_sides(tmp_path / "x")[0], runs["accepted"]) == {}
    assert len(runs["current"]) == 3
    # A fresh process of the same tree would select the same nothing: not run again.
    assert [job.side.label for job in calls] == ["accepted", "current", "current", "current"]
    assert (
        "the accepted code (abc1234567) has no benchmark matching -k 'new'; "
        "measuring the other side alone"
    ) in caplog.messages


def test_nothing_selected_on_either_side_stops_after_one_round(tmp_path: Path) -> None:
    calls: list[Job] = []

    def launch(job: Job) -> int:
        calls.append(job)
        job.log_path.write_text("\n2 deselected in 0.01s\n" if job.side.label == "current" else "")
        return 5

    with pytest.raises(GateError) as caught:
        run_interleaved(
            make_sides(tmp_path),
            RunOptions(processes=8, keyword="zzz"),
            tmp_path,
            launcher=launch,
        )
    assert len(calls) == 2
    assert str(caught.value) == (
        "-k 'zzz' selects no benchmark in either tree (current: 0 of 2 collected, accepted: "
        "nothing selected) — check the names; pytest tests/benchmarks --collect-only -q -m "
        "'not reference' lists them"
    )
    with pytest.raises(GateError, match=r"^no benchmark to run under tests/benchmarks in the "):
        run_interleaved(
            make_sides(tmp_path / "plain")[1:],
            RunOptions(processes=2),
            tmp_path,
            launcher=launch,
        )


def test_a_bad_keyword_is_quoted_with_pytests_own_message(tmp_path: Path) -> None:
    def launch(job: Job) -> int:
        job.log_path.write_text(
            "ERROR: Wrong expression passed to '-k': ((( and: at column 5: expected not OR "
            "left parenthesis OR identifier; got and\n\n"
        )
        return 4

    with pytest.raises(GateError) as caught:
        run_interleaved(
            make_sides(tmp_path),
            RunOptions(processes=2, keyword="((( and"),
            tmp_path,
            launcher=launch,
        )
    assert str(caught.value).startswith(
        "-k '((( and' is not a valid pytest -k expression: at column 5: expected not OR left "
        "parenthesis OR identifier; got and — fix the expression"
    )


@pytest.mark.parametrize(
    ("log", "cause"),
    [
        pytest.param(
            "Traceback (most recent call last):\n"
            '  File "conftest.py", line 1, in <module>\n'
            "    import nope\n"
            "ModuleNotFoundError: No module named 'nope'\n"
            "sys:1: RuntimeWarning: coroutine 'serve' was never awaited\n"
            "RuntimeWarning: Enable tracemalloc to get the object allocation traceback\n",
            "ModuleNotFoundError: No module named 'nope'",
            id="warnings-after-the-traceback",
        ),
        pytest.param(
            "Traceback (most recent call last):\n"
            '  File "a.py", line 1, in f\n'
            "pytest.UsageError: Wrong thing\n"
            "\n"
            "During handling of the above exception, another exception occurred:\n"
            "\n"
            "Traceback (most recent call last):\n"
            '  File "b.py", line 2, in g\n'
            "pytest_benchmark.logger.PytestBenchmarkWarning: Not saving anything\n",
            "pytest.UsageError: Wrong thing",
            id="the-first-of-an-implicit-chain",
        ),
        pytest.param(
            "INTERNALERROR> Traceback (most recent call last):\n"
            'INTERNALERROR>   File "x.py", line 3, in h\n'
            "INTERNALERROR> KeyError: 'boom'\n",
            "KeyError: 'boom'",
            id="internal-error",
        ),
        pytest.param(
            "____ ERROR collecting tests/benchmarks/test_x.py ____\n"
            "E   ImportError: cannot import name 'gone'\n"
            "!!! Interrupted: 1 error during collection !!!\n",
            "ImportError: cannot import name 'gone'",
            id="pytest-exception-line",
        ),
        pytest.param(
            "x.py:3: DeprecationWarning: old\n  warnings.warn('old')\n",
            "x.py:3: DeprecationWarning: old",
            id="only-a-warning",
        ),
    ],
)
def test_a_failed_process_is_quoted_by_its_cause(tmp_path: Path, log: str, cause: str) -> None:
    def launch(job: Job) -> int:
        job.log_path.write_text(log)
        return 3

    with pytest.raises(GateError) as caught:
        run_interleaved(make_sides(tmp_path), RunOptions(processes=1), tmp_path, launcher=launch)
    assert str(caught.value).startswith(
        f"benchmark process 1 of the accepted code (abc1234567) failed (pytest exit 3): {cause} "
        "— fix it; full output in "
    )


def test_a_side_without_a_benchmark_folder(tmp_path: Path) -> None:
    side = Side("accepted", tmp_path / "old", "0123456789")
    with pytest.raises(GateError, match=r"has no tests/benchmarks folder"):
        run_interleaved([side], RunOptions(processes=1), tmp_path, launcher=lambda job: 0)


def test_keyboard_interrupt_stops_between_processes(tmp_path: Path) -> None:
    calls: list[Job] = []

    def launch(job: Job) -> int:
        calls.append(job)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return writing_launcher(lambda _: {"t": 1.0})(job)

    with pytest.raises(KeyboardInterrupt):
        run_interleaved(make_sides(tmp_path), RunOptions(processes=4), tmp_path, launcher=launch)
    assert len(calls) == 3


def _job(tmp_path: Path, code: str, timeout: float = 60.0) -> Job:
    side = make_sides(tmp_path)[1]
    return Job(
        side=side,
        round=1,
        command=(sys.executable, "-c", code),
        env=dict(os.environ),
        cwd=side.root,
        json_path=tmp_path / "p.json",
        log_path=tmp_path / "logs" / "p.log",
        timeout=timeout,
    )


def test_run_process_returns_the_status_and_keeps_the_output(tmp_path: Path) -> None:
    job = _job(tmp_path, "import os, sys; print('out', os.getcwd()); sys.exit(3)")
    assert run_process(job) == 3
    assert job.log_path.read_text().strip() == f"out {job.cwd}"


def test_run_process_stops_a_hung_benchmark(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"did not finish within 0.5 s \(stopped\)"):
        run_process(_job(tmp_path, "import time; time.sleep(600)", timeout=0.5))


#: A benchmark process that starts a "server" in its process group and leaves it running.
_LEAVES_A_SERVER = (
    "import subprocess, sys; "
    "server = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "print(server.pid, flush=True)"
)


def test_a_server_left_behind_by_a_benchmark_process_is_stopped(tmp_path: Path) -> None:
    job = _job(tmp_path, _LEAVES_A_SERVER)
    assert run_process(job) == 0
    server = int(job.log_path.read_text().split()[0])
    wait_until_gone([server])


def test_run_process_cannot_start(tmp_path: Path) -> None:
    job = _job(tmp_path, "")
    missing = Job(**{**job.__dict__, "command": (str(tmp_path / "no-python"), "-c", "")})
    with pytest.raises(GateError, match="cannot start the benchmark process"):
        run_process(missing)
