"""`agui-perf load` end to end, at the smallest scale: two users for a few seconds against
our default target (started by the command) and against a URL (a server started here).

It proves that the pieces fit (the target, Locust, the locustfile's client on the suite's
parser, the CSV, the verdict and goodput), not how fast anything is: no figure is held to a
number, the exit code may be 1 on a loaded machine (a budget breached), never 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agui_perf.load.session import CpuUse, stalls_line
from agui_perf.stream.stalls import Stalls
from tests._support.server import free_port, running_command, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
#: Locust's run time plus start-up, the server and the reports, on a busy machine.
TIMEOUT_S = 180


def _load(out: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "agui_perf", "load", "--out", str(out)),
            *("--pyproject", str(ROOT / "pyproject.toml")),
            *("--users", "2", "--spawn-rate", "2", "--duration", "6", "--think", "0.05,0.1"),
            # AccountAnalysisUser alone (burst users fire on 10 s boundaries of the clock), with
            # runs of milliseconds: Locust's run time can end sooner than --duration says
            # (seen: 1.1 s after spawning, of 3 s), and a run cut off is not counted. 6 s, not
            # 3: with both cores busy and two test suites beside it, 3 s once ended with no
            # finished run at all.
            *("--user-class", "AccountAnalysisUser", "--params", '{"token_delay": 0.0}', *extra),
        ],
        cwd=out.parent,
        env=subprocess_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result, json.loads((out / "verdict.json").read_text(encoding="utf-8"))


def _check(out: Path, result: subprocess.CompletedProcess[str], verdict: dict[str, Any]) -> None:
    for name in ("report.html", "locust_stats.csv", "verdict.md", "latency.svg"):
        assert (out / name).stat().st_size > 0, name
    stats = verdict["stats"]
    assert stats["runs"] >= 1
    assert stats["failed_runs"] == 0, stats["failure_reasons"]
    # Each run either was good or missed a per-run budget (a loaded machine may be slow).
    missed = sum(count for _, count in stats["over_budget"])
    assert stats["good_runs"] + missed >= stats["runs"]
    assert stats["goodput_ratio"] == pytest.approx(stats["good_runs"] / stats["runs"])
    assert stats["events"]["count"] > stats["runs"]  # many events a run, each with its latency
    assert set(verdict["per_run_budgets"]) == {"latency_mean_ms", "latency_p95_ms", "workflow_s"}
    assert "| goodput (good runs: RUN_FINISHED" in result.stdout
    assert "; goodput " in result.stdout.splitlines()[0]
    assert result.stdout == (out / "verdict.md").read_text(encoding="utf-8") + (
        f"reports: {out}/ (report.html, locust_stats.csv, verdict.md, verdict.json, latency.svg)\n"
    )


def test_against_our_default_target(tmp_path: Path) -> None:
    out = tmp_path / "load"
    result, verdict = _load(out)
    _check(out, result, verdict)
    assert verdict["context"]["target"] == "agui_perf.stream.app:create_app"
    assert (out / "server.log").exists()  # agui-perf serve, started and stopped by the run
    # Our core's worker measured its own stalls, and the verdict says what it saw.
    stalls = verdict["context"]["server stalls"]
    assert stalls.startswith("event loop late by at most "), stalls
    assert stalls.endswith(" · 1 worker")
    assert len(list((out / "server-stalls").glob("stalls-*.json"))) == 1
    # Both groups used CPU, and it was read from the kernel, not guessed.
    used = verdict["context"]["CPU used"]
    assert used.startswith("load generator "), used
    assert ", server " in used
    assert "not ours" not in used


def test_against_a_running_server(tmp_path: Path) -> None:
    port = free_port()
    with running_command(["-m", "agui_perf", "serve", "--port", str(port)], port) as url:
        out = tmp_path / "load"
        result, verdict = _load(out, "--target", url)
    _check(out, result, verdict)
    assert verdict["context"]["target"] == url
    assert verdict["context"]["server workers"] == "not ours"
    assert "server stalls" not in verdict["context"]  # not ours: not measured from inside
    assert ", server not ours, of " in verdict["context"]["CPU used"]
    assert not (out / "server.log").exists()


def test_the_stalls_line_gives_the_worst_worker() -> None:
    quiet = Stalls(
        pid=1,
        collections=[10, 1, 0],
        gc_wall_max=0.002,
        gc_cpu_max=0.002,
        gc_max_generation=0,
        lag_max=0.004,
        lag_p99=0.001,
    )
    busy = Stalls(
        pid=2,
        collections=[30, 2, 1],
        gc_wall_max=0.031,
        gc_cpu_max=0.0099,
        gc_max_generation=2,
        lag_max=0.045,
        lag_p99=0.012,
    )
    assert stalls_line([quiet, busy]) == (
        "event loop late by at most 45.0 ms (p99 12.0 ms) · longest collection 31.0 ms wall "
        "(9.9 ms CPU, generation 2) · collections 40/3/1 (young/middle/full) · 2 workers"
    )
    assert stalls_line([Stalls(pid=3)]).split(" · ")[1] == "no collection"
    assert stalls_line([]) == "not measured (no worker wrote its figures)"


def test_the_cpu_line_gives_each_share_of_what_the_cores_had() -> None:
    use = CpuUse(load_generator=45.0, server=36.0, wall=50.0, cores=2)
    assert use.line() == (
        "load generator 45.0 s (45%), server 36.0 s (36%), of 100 s (2 cores × 50 s)"
    )
    assert "server not ours" in CpuUse(load_generator=1.0, server=None, wall=1.0, cores=2).line()
