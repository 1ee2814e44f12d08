"""The plugin as pytest loads it: real pytest runs (pytester, a fresh process each) against
real uvicorn servers on loopback.

Each inner run gets `suite_apps.py` (a copy of tests/suite/_apps.py) beside its tests, so a
marker can name `suite_apps:crlf_app` and the started child imports it from there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import agui_perf
from agui_perf.gate.store.results import load_pytest_benchmark
from agui_perf.suite.target import parse_target, started

pytest_plugins = ["pytester"]

APPS = Path(__file__).with_name("_apps.py")
#: Generous: an inner run imports pytest, starts servers and runs streams on a busy machine.
RUN_TIMEOUT_S = 240


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(suite_apps=APPS.read_text(encoding="utf-8"))
    return pytester


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-s", *args, timeout=RUN_TIMEOUT_S
    )


def test_figures_of_our_app(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_ours="""
        def test_ours(agui_target, agui_run):
            assert agui_target.pid is not None
            run = agui_run()
            print("FIGURES", run.summary())
            assert run.ok, run.problems()
            assert run.status == 200
            assert run.events > 0
            assert run.bytes > 0
            assert 0 < run.ttfe_s <= run.duration_s
            assert run.ttfe_s <= run.ttfc_s <= run.duration_s
            assert run.verified and run.verifier_error is None
            assert run.framing_ok and run.framing_problem is None
            assert run.line_ends == ("LF",)
        """
    )
    result = _run(suite)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*FIGURES http://127.0.0.1:*/agent: * events*verified*"])


def test_a_crlf_framed_app_is_flagged_naming_crlf(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_crlf="""
        import pytest

        @pytest.mark.agui_target("suite_apps:crlf_app", path="/")
        def test_crlf(agui_run):
            run = agui_run()
            print("CRLF", run.framing_problem)
            assert run.error is None  # the standard's reading accepts CRLF …
            assert run.verified
            assert run.events == 5
            assert not run.framing_ok  # … @ag-ui/client 1.0 does not
            assert "CRLF" in run.framing_problem
            assert "fails on event 1" in run.framing_problem
            assert run.line_ends == ("CRLF",)
            assert not run.ok

        @pytest.mark.agui_target("suite_apps:lf_app", path="/")
        def test_same_run_with_lf(agui_run):
            run = agui_run()
            assert run.ok, run.problems()
            assert run.events == 5
        """
    )
    result = _run(suite)
    result.assert_outcomes(passed=2)


def test_an_out_of_order_stream_is_flagged_by_the_verifier(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_order="""
        import pytest

        @pytest.mark.agui_target("suite_apps:out_of_order_app")
        def test_order(agui_run):
            run = agui_run()
            assert not run.verified
            assert "message-not-open" in run.verifier_error
            assert run.framing_ok
            assert not run.ok
        """
    )
    _run(suite).assert_outcomes(passed=1)


def test_an_input_file_from_the_command_line_and_from_the_ini_file(
    suite: pytest.Pytester,
) -> None:
    paced = {
        "threadId": "t",
        "runId": "r",
        "messages": [],
        "forwardedProps": {"workflow": "paced", "params": {"text_chunks": 3, "rate_per_s": 50}},
    }
    (suite.path / "inputs").mkdir()
    (suite.path / "inputs" / "paced.json").write_text(json.dumps(paced))
    suite.makepyfile(
        test_input="""
        def test_input(agui_run):
            run = agui_run()
            assert run.ok, run.problems()
            assert run.events == 7  # RUN_STARTED, TEXT_MESSAGE_START, 3 chunks, END, FINISHED
        """
    )
    _run(suite, "--agui-input=inputs/paced.json").assert_outcomes(passed=1)
    suite.makeini("[pytest]\nagui_input = inputs/paced.json\n")
    _run(suite).assert_outcomes(passed=1)


def test_a_url_target_of_a_running_server(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_url="""
        def test_url(agui_target, agui_run):
            assert agui_target.pid is None
            run = agui_run()
            assert run.ok, run.problems()
            print("URL", run.url)
        """
    )
    with started(parse_target("agui_perf.stream.app:create_app")) as server:
        result = _run(suite, f"--agui-target={server.url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*URL {server.url}*"])


def test_two_targets_in_one_run_each_started_once(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_two="""
        import json
        import pytest

        def _note(name, agui_target, run):
            with open("seen.jsonl", "a") as out:
                out.write(json.dumps([name, agui_target.pid, run.events, run.framing_ok]) + "\\n")

        def test_ours(agui_target, agui_run):
            _note("ours", agui_target, agui_run())

        @pytest.mark.agui_target("suite_apps:crlf_app", path="/")
        def test_crlf_first(agui_target, agui_run):
            _note("crlf", agui_target, agui_run())

        @pytest.mark.agui_target("suite_apps:crlf_app", path="/")
        def test_crlf_again(agui_target, agui_run):
            _note("crlf", agui_target, agui_run())
        """
    )
    _run(suite).assert_outcomes(passed=3)
    seen = [json.loads(line) for line in (suite.path / "seen.jsonl").read_text().splitlines()]
    pids = {name: {pid for n, pid, _, _ in seen if n == name} for name in ("ours", "crlf")}
    assert len(pids["ours"]) == len(pids["crlf"]) == 1  # one process per target, shared
    assert pids["ours"] != pids["crlf"]
    assert {(n, ok) for n, _, _, ok in seen} == {("ours", True), ("crlf", False)}
    assert all(events > 0 for _, _, events, _ in seen)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--agui-target=agui_perf.stream.app"],
            "--agui-target: target 'agui_perf.stream.app' has no ':'",
        ),
        (["--agui-target=https://example.com"], "only http://"),
        (["--agui-target=http://127.0.0.1:8000/agent"], "--agui-path"),
        (["--agui-path=agent"], "--agui-path: 'agent' is not an endpoint path"),
        (["--agui-heartbeat=soon"], "--agui-heartbeat: 'soon' is not a positive number"),
        (["--agui-input=missing.json"], "--agui-input: cannot read 'missing.json'"),
        (["-o", "agui_target=nonsense"], "agui_target (ini): target 'nonsense'"),
    ],
)
def test_bad_options_are_one_line_usage_errors(
    suite: pytest.Pytester, args: list[str], words: str
) -> None:
    suite.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = _run(suite, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, errors
    assert words in errors[0]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_a_bad_marker_is_a_usage_error_naming_the_test(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.agui_target("no colon here")
        def test_marked(agui_run):
            pass
        """
    )
    result = _run(suite)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    (error,) = [line for line in result.errlines if line.strip()]
    assert "test_marker.py::test_marked: @pytest.mark.agui_target: target 'no colon here'" in error


def test_a_target_that_fails_to_start_fails_its_tests_in_one_line(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_broken="""
        import pytest

        @pytest.mark.agui_target("suite_apps:broken_factory")
        def test_one(agui_run):
            pass

        @pytest.mark.agui_target("suite_apps:broken_factory")
        def test_two(agui_run):
            pass
        """
    )
    result = _run(suite)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*exited with status * during start-up: RuntimeError: boom*"])
    assert "Traceback" not in result.stdout.str()


def test_heartbeats_seen_and_a_silence_beyond_the_promise(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_heartbeat="""
        import pytest

        PACED = {
            "threadId": "t", "runId": "r", "messages": [],
            "forwardedProps": {"workflow": "paced", "params": {"text_chunks": 3, "rate_per_s": 4}},
        }

        @pytest.mark.agui_target("suite_apps:ours_with_heartbeat", heartbeat=0.05)
        def test_pings(agui_run):
            run = agui_run(PACED)
            assert run.error is None and run.verified
            # 0.25 s between chunks, a ping after each 0.05 s of silence.
            assert run.heartbeats > 0
            assert run.heartbeat_s == 0.05

        @pytest.mark.agui_target("suite_apps:silent_app", heartbeat=0.1)
        def test_silent(agui_run):
            run = agui_run()
            assert run.heartbeats == 0
            # The app pauses 0.5 s; under uvloop (millisecond timers) that can end a hair early.
            assert run.silence_max_s >= 0.49
            assert run.heartbeat_kept is False
            assert any("promised heartbeat" in p for p in run.problems())
        """
    )
    _run(suite).assert_outcomes(passed=2)


def test_concurrent_streams_held_and_the_error_rate(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_concurrent="""
        import pytest

        PACED = {
            "threadId": "t", "runId": "r", "messages": [],
            "forwardedProps": {"workflow": "paced", "params": {"text_chunks": 5, "rate_per_s": 10}},
        }

        def test_ours(agui_run):
            result = agui_run.concurrent(8, PACED)
            assert result.streams == 8
            assert result.held == 8, result.errors
            assert result.error_rate == 0
            assert 1 <= result.peak_open <= 8
            assert all(run.verified for run in result.runs)

        @pytest.mark.agui_target("suite_apps:flaky_app", path="/")
        def test_flaky(agui_run):
            result = agui_run.concurrent(4)
            assert result.held == 2
            assert result.error_rate == 0.5
            assert any("HTTP 500" in error for error in result.errors)
        """
    )
    _run(suite).assert_outcomes(passed=2)


def test_figures_land_in_the_benchmark_json(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_bench="""
        def test_bench(benchmark, agui_run):
            run = benchmark.pedantic(agui_run, rounds=2, iterations=1)
            agui_run.publish(benchmark, run, agui_run.concurrent(2))
        """
    )
    _run(suite, "--benchmark-json=bench.json").assert_outcomes(passed=1)
    (bench,) = json.loads((suite.path / "bench.json").read_text())["benchmarks"]
    info = bench["extra_info"]
    assert info["agui_events"] > 0
    assert info["agui_verified"] == 1
    assert info["agui_framing_ok"] == 1
    assert info["agui_ttfe_s"] <= info["agui_duration_s"]
    assert info["agui_streams_held"] == 2
    # The gate reads the same file: every published figure is a value it keeps.
    (kept,) = load_pytest_benchmark(suite.path / "bench.json").benchmarks.values()
    assert kept.extra_info["agui_events"] == info["agui_events"]
    assert kept.extra_info["agui_verified"] == 1


def test_unused_it_starts_nothing_and_can_be_switched_off(suite: pytest.Pytester) -> None:
    suite.makepyfile(test_plain="def test_plain():\n    pass\n")
    _run(suite).assert_outcomes(passed=1)
    result = _run(suite, "-p", "no:agui_perf", "--agui-target=x:y")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --agui-target" in result.stderr.str()


def test_importing_the_plugin_imports_no_client_server_or_core() -> None:
    code = (
        "import sys, agui_perf.suite.plugin;"
        "print(sorted(m for m in ('h11', 'uvicorn', 'starlette', 'agui_perf.stream',"
        " 'agui_perf.suite.client', 'agui_perf.gate') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_tree_without_the_suite_still_runs_pytest(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """The gate puts the accepted commit's src/ first; before the suite, it has no suite."""
    old = tmp_path / "old-src"
    shutil.copytree(
        Path(agui_perf.__file__).parent, old / "agui_perf", ignore=shutil.ignore_patterns("suite")
    )
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(old)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--trace-config"],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "agui_perf_plugin" in proc.stdout  # the entry point loaded …
    assert "agui_perf.suite.plugin" not in proc.stdout  # … and asked for nothing


def test_the_closing_table_puts_every_target_side_by_side(suite: pytest.Pytester) -> None:
    suite.makepyfile(
        test_table="""
        import pytest

        BOTH = [
            pytest.param("lf", marks=pytest.mark.agui_target("suite_apps:lf_app", path="/")),
            pytest.param("crlf", marks=pytest.mark.agui_target("suite_apps:crlf_app", path="/")),
        ]

        @pytest.mark.parametrize("app", BOTH)
        def test_both(agui_run, app):
            for _ in range(3):
                agui_run()

        def test_ours(agui_run):
            agui_run()
            agui_run.concurrent(2)
        """
    )
    result = _run(suite)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*= agui-perf service suite: median per test and target, times in ms =*",
            "test *target *runs *events *bytes *ttfe ms *ttfc ms *gap p50 *gap p95 *gap p99 "
            "*gap max *duration ms *events/s *verified *framing",
            "test_both  *suite_apps:lf_app / * 3 * 5 *yes *ok",
            "test_both  *suite_apps:crlf_app / * 3 * 5 *yes *NO 0/3 (CRLF)",
            "test_ours  *agui_perf.stream.app:create_app /agent * 1 *yes *ok",
            "test_ours (2 at once)  *agui_perf.stream.app:create_app /agent * 2 *yes *ok",
        ],
        consecutive=True,
    )


def test_the_closing_table_only_when_runs_were_measured_and_not_when_off(
    suite: pytest.Pytester,
) -> None:
    suite.makepyfile(
        test_one="def test_one(agui_run):\n    assert agui_run().ok\n",
        test_plain="def test_plain():\n    pass\n",
    )
    for args in (["test_plain.py"], ["--agui-summary=off"], ["-o", "agui_summary=off"]):
        result = _run(suite, *args)
        assert result.ret == 0, args
        assert "agui-perf service suite" not in result.stdout.str(), args
    result = _run(suite, "-o", "agui_summary=maybe")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "agui_summary (ini): 'maybe' is neither on nor off" in result.stderr.str()


_SIDE_APP = """
import json

CHUNKS = {chunks}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    events = [{{"type": "RUN_STARTED", "threadId": "t", "runId": "r"}}]
    events.append({{"type": "TEXT_MESSAGE_START", "messageId": "m", "role": "assistant"}})
    events += [{{"type": "TEXT_MESSAGE_CONTENT", "messageId": "m", "delta": "x"}}] * CHUNKS
    events.append({{"type": "TEXT_MESSAGE_END", "messageId": "m"}})
    events.append({{"type": "RUN_FINISHED", "threadId": "t", "runId": "r"}})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\\n\\n" for e in events)
    headers = [(b"content-type", b"text/event-stream")]
    await send({{"type": "http.response.start", "status": 200, "headers": headers}})
    await send({{"type": "http.response.body", "body": body}})
"""


def test_the_target_imports_the_app_from_its_own_sides_source_folder(tmp_path: Path) -> None:
    """As the gate runs a side: cwd its root, its source folder first on PYTHONPATH.

    Two trees hold an `app` module each (the current code and the accepted commit's); each
    side's started target must serve its own, whatever else is on the path.
    """
    test = (
        "def test_side(agui_run):\n"
        "    run = agui_run()\n"
        "    assert run.ok, run.problems()\n"
        "    open('events.txt', 'w').write(str(run.events))\n"
    )
    ini = '[tool.pytest.ini_options]\nagui_target = "app:app"\nagui_path = "/"\n'
    seen: dict[str, int] = {}
    for side, chunks in (("current", 3), ("accepted", 7)):
        root = tmp_path / side
        (root / "src").mkdir(parents=True)
        (root / "benchmarks").mkdir()
        (root / "src" / "app.py").write_text(_SIDE_APP.format(chunks=chunks))
        (root / "benchmarks" / "test_side.py").write_text(test)
        (root / "pyproject.toml").write_text(ini)
        # The other side's folder after this one's, as a stray entry on PYTHONPATH would be.
        other = tmp_path / ("accepted" if side == "current" else "current") / "src"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(other)])}
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "benchmarks", f"--rootdir={root}", "-q"],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        seen[side] = int((root / "events.txt").read_text())
    # RUN_STARTED, message start and end, RUN_FINISHED and each side's own chunks.
    assert seen == {"current": 7, "accepted": 11}
