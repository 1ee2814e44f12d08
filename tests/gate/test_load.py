"""The load test's pure parts: budget check over Locust CSV, the SSE client, the session options.

`tests/load/` holds the locustfile (which needs Locust, only in the `load` group) beside the
pure modules it uses; `nox -s tests` ignores that directory, so they are tested here.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import pytest
from ag_ui.core import RunAgentInput
from hypothesis import given, settings
from hypothesis import strategies as st

from agui_perf.gate.errors import GateError
from agui_perf.gate.load import (
    LoadBudgets,
    LoadStats,
    Outcome,
    RowStats,
    check_load,
    latency_series,
    load_budgets,
    read_locust_stats,
    render_markdown,
    verdict_to_json,
    write_verdict,
)
from agui_perf.stream.encoder import HEARTBEAT, encode
from agui_perf.stream.workflows import WorkflowParams, iter_account_analysis
from tests.load.run import LoadOptions, locust_commands, main, parse_load_args
from tests.load.sse_client import (
    FrameParser,
    RunCheck,
    RunFailure,
    check_response,
    frame_payload,
    run_body,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

ROOT = Path(__file__).resolve().parents[2]

# --- synthetic Locust CSV (the header is Locust 2.x's, as `--csv` writes it) --------------------

HEADER = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
    "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
    "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
)


def _row(
    kind: str, name: str, count: int, failures: int, mean: float, per_s: float, p95: str
) -> str:
    return (
        f"{kind},{name},{count},{failures},{mean:.0f},{mean},0.5,{mean * 4},120.0,{per_s},0.0,"
        f"{mean:.0f},{mean:.0f},{mean:.0f},{mean:.0f},{mean:.0f},{p95},{p95},{p95},{p95},{p95},"
        f"{p95}"
    )


def write_csv(
    directory: Path,
    *,
    p95: str = "12",
    runs: int = 200,
    failed: int = 0,
    events_per_s: float = 2500.0,
    failures: Sequence[str] = (),
) -> Path:
    rows = [
        HEADER,
        _row("POST", "/agent", runs, failed, 4.0, 6.6, "9"),
        _row("SSE", "event_latency", 15_000, 0, 3.0, events_per_s, p95),
        _row("SSE", "run account_analysis", runs - 50, failed, 1100.0, 5.0, "1200"),
        _row("SSE", "run burst", 50, 0, 12.0, 1.6, "60"),
        _row("SSE", "time_to_first_event", runs, 0, 5.0, 6.6, "40"),
        _row("", "Aggregated", 15_400, failed, 3.5, 2520.0, "13"),
    ]
    (directory / "locust_stats.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    failure_rows = ["Method,Name,Error,Occurrences,First Seen,Last Seen", *failures]
    (directory / "locust_failures.csv").write_text("\n".join(failure_rows) + "\n", "utf-8")
    return directory / "locust"


BUDGETS = LoadBudgets(latency_p95_ms=300.0, error_rate_max=0.05, throughput_events_per_s_min=100.0)


def write_pyproject(directory: Path, budgets: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text(f"[tool.agui_perf.budgets]\n{budgets}\n", encoding="utf-8")
    return path


# --- budgets ------------------------------------------------------------------------------


def test_budgets_of_this_project_are_readable() -> None:
    budgets = load_budgets(ROOT / "pyproject.toml")
    assert budgets.latency_p95_ms > 0
    assert 0 < budgets.error_rate_max < 1
    assert budgets.throughput_events_per_s_min > 0


def test_budgets_read_the_three_keys(tmp_path: Path) -> None:
    path = write_pyproject(
        tmp_path,
        "latency_p95_ms = 250\nerror_rate_max = 0.01\nthroughput_events_per_s_min = 50.5\n"
        "workflow_s = 10",
    )
    assert load_budgets(path) == LoadBudgets(250.0, 0.01, 50.5)


@pytest.mark.parametrize(
    ("budgets", "fragment"),
    [
        ("latency_p95_ms = 250\nerror_rate_max = 0.01", "'throughput_events_per_s_min'"),
        (
            'latency_p95_ms = "fast"\nerror_rate_max = 0.01\nthroughput_events_per_s_min = 1',
            "latency_p95_ms: 'fast' is not a number",
        ),
        (
            "latency_p95_ms = 1\nerror_rate_max = true\nthroughput_events_per_s_min = 1",
            "error_rate_max: True is not a number",
        ),
        (
            "latency_p95_ms = -1\nerror_rate_max = 0\nthroughput_events_per_s_min = 1",
            "-1 is negative",
        ),
        ("latency_p95_ms = = 1", "not valid TOML"),
    ],
)
def test_bad_budgets_are_one_line_errors(tmp_path: Path, budgets: str, fragment: str) -> None:
    with pytest.raises(GateError) as info:
        load_budgets(write_pyproject(tmp_path, budgets))
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_missing_pyproject_and_table(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="does not exist"):
        load_budgets(tmp_path / "nope.toml")
    (tmp_path / "pyproject.toml").write_text("[tool.other]\nx = 1\n", encoding="utf-8")
    with pytest.raises(GateError, match=r"\[tool.agui_perf.budgets\] has no 'latency_p95_ms'"):
        load_budgets(tmp_path / "pyproject.toml")


# --- Locust CSV -----------------------------------------------------------------------------


def test_stats_from_locust_csv(tmp_path: Path) -> None:
    stats = read_locust_stats(
        write_csv(
            tmp_path,
            runs=200,
            failed=3,
            failures=[
                "SSE,run account_analysis,\"RunFailure('stream ended without RUN_FINISHED "
                "(last event TEXT_MESSAGE_CONTENT)')\",3,,",
                "POST,/agent,HTTPError('503'),1,,",
            ],
        )
    )
    assert (stats.runs, stats.failed_runs) == (200, 3)
    assert stats.error_rate == pytest.approx(0.015)
    assert stats.events is not None
    assert (stats.events.count, stats.events.p95_ms, stats.events.per_s) == (15_000, 12.0, 2500.0)
    assert stats.first_event is not None
    assert stats.first_event.p95_ms == 40.0
    assert stats.runs_per_s == pytest.approx(6.6)
    assert stats.run_mean_ms == pytest.approx((150 * 1100 + 50 * 12) / 200)
    assert stats.concurrent_streams == pytest.approx(6.6 * stats.run_mean_ms / 1000)
    # Only failed runs count, and the exception's repr is unwrapped to the reason.
    assert stats.failure_reasons == (
        ("stream ended without RUN_FINISHED (last event TEXT_MESSAGE_CONTENT)", 3),
    )


def test_stats_without_any_event(tmp_path: Path) -> None:
    prefix = write_csv(tmp_path, runs=60, failed=10)
    path = tmp_path / "locust_stats.csv"
    kept = [line for line in path.read_text().splitlines() if "event_latency" not in line]
    path.write_text("\n".join(kept) + "\n")
    stats = read_locust_stats(prefix)
    assert stats.events is None


def test_na_percentile_is_none(tmp_path: Path) -> None:
    stats = read_locust_stats(write_csv(tmp_path, p95="N/A"))
    assert stats.events is not None
    assert stats.events.p95_ms is None


def _corrupt(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda p: p.unlink(), "does not exist"),
        (lambda p: p.write_text(""), "is not a Locust CSV (no column 'Type')"),
        (lambda p: p.write_bytes(b"\xff\xfe\x00garbage"), "cannot be read"),
        (lambda p: _corrupt(p, ",95%,", ",95th,"), "no column '95%'"),
        (lambda p: _corrupt(p, "SSE,event_latency,15000", "SSE,event_latency,lots"), "'lots'"),
        (lambda p: _corrupt(p, "SSE,event_latency,15000,0,3,", "SSE,event_latency,"), "fields"),
        (lambda p: _corrupt(p, ",2500.0,", ",inf,"), "'inf'"),
        (lambda p: _corrupt(p, "run burst,50,0", "run burst,50,51"), "51 failures of 50"),
    ],
)
def test_unusable_csv_is_one_line_error(tmp_path: Path, damage: object, fragment: str) -> None:
    prefix = write_csv(tmp_path)
    assert callable(damage)
    damage(tmp_path / "locust_stats.csv")
    with pytest.raises(GateError) as info:
        read_locust_stats(prefix)
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_csv_without_runs_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "locust_stats.csv").write_text(
        HEADER + "\n" + _row("", "Aggregated", 0, 0, 0.0, 0.0, "N/A") + "\n"
    )
    with pytest.raises(GateError, match="no finished SSE run"):
        read_locust_stats(tmp_path / "locust")


# --- verdict --------------------------------------------------------------------------------


def _stats(
    *, p95: float | None = 12.0, failed: int = 0, per_s: float = 2500.0, events: bool = True
) -> LoadStats:
    row = RowStats(15_000, 0, 3.0, 40.0, 120.0, per_s, 2.0, p95, 20.0)
    return LoadStats(
        runs=200,
        failed_runs=failed,
        runs_per_s=6.6,
        run_mean_ms=800.0,
        bytes_received=1e6,
        events=row if events else None,
        first_event=None,
    )


def test_all_budgets_met_is_a_pass() -> None:
    verdict = check_load(_stats(), BUDGETS)
    assert verdict.outcome is Outcome.PASS
    assert verdict.exit_code == 0
    assert [row.passed for row in verdict.rows] == [True, True, True]
    assert [row.margin for row in verdict.rows] == [288.0, 0.05, 2400.0]
    assert verdict.headline.startswith("PASS: all 3 load budgets met")


@pytest.mark.parametrize(
    ("stats", "breached"),
    [
        (_stats(p95=301.0), "latency_p95_ms"),
        (_stats(failed=11), "error_rate_max"),
        (_stats(per_s=99.0), "throughput_events_per_s_min"),
    ],
)
def test_one_breach_fails(stats: LoadStats, breached: str) -> None:
    verdict = check_load(stats, BUDGETS)
    assert verdict.outcome is Outcome.BREACH
    assert verdict.exit_code == 1
    assert [row.budget for row in verdict.rows if not row.passed] == [breached]
    assert verdict.headline.startswith("BREACH: 1 of 3 load budgets breached")


def test_limits_are_inclusive() -> None:
    verdict = check_load(_stats(p95=300.0, failed=10, per_s=100.0), BUDGETS)
    assert verdict.outcome is Outcome.PASS


def test_no_event_measured_is_a_breach_not_a_pass() -> None:
    verdict = check_load(_stats(events=False, failed=200), BUDGETS)
    latency = verdict.rows[0]
    assert (latency.actual, latency.margin, latency.passed) == (None, None, False)
    assert verdict.exit_code == 1
    assert "event latency, p95 not measured" in verdict.headline


def test_markdown_starts_with_the_one_line_verdict() -> None:
    verdict = check_load(_stats(p95=350.0), BUDGETS, {"users": 100})
    text = render_markdown(verdict)
    first, second = text.splitlines()[:2]
    assert first == f"**{verdict.headline}**"
    assert second == ""
    assert (
        "| event latency, p95 (`latency_p95_ms`) | ≤ 300 ms | 350 ms | × 1.17 over budget "
        "| FAIL |" in (text)
    )
    assert (
        "| error rate (failed runs) (`error_rate_max`) | ≤ 5.00 % | 0.00 % "
        "| under budget (actual 0) | pass |" in (text)
    )
    assert "| throughput (`throughput_events_per_s_min`) | ≥ 100 events/s | 2,500 events/s " in (
        text
    )
    assert "| × 25 above the minimum | pass |" in text
    assert "| users | 100 |" in text


def test_verdict_files(tmp_path: Path) -> None:
    verdict = check_load(_stats(), BUDGETS, {"users": 10})
    markdown = write_verdict(verdict, tmp_path)
    assert (tmp_path / "verdict.md").read_text(encoding="utf-8") == markdown
    data = json.loads((tmp_path / "verdict.json").read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(verdict_to_json(verdict)))
    assert data["outcome"] == "pass"
    assert data["budgets"][0]["budget"] == "latency_p95_ms"
    assert data["stats"]["error_rate"] == 0.0
    assert data["context"] == {"users": 10}
    assert "latency.svg" in markdown
    assert (tmp_path / "latency.svg").read_text(encoding="utf-8").startswith("<svg")


def test_latency_chart_of_both_distributions(tmp_path: Path) -> None:
    first = RowStats(200, 0, 45.0, 180.0, 900.0, 6.6, 40.0, 90.0, 150.0)
    verdict = check_load(replace(_stats(p95=12.0), first_event=first), BUDGETS)
    series = latency_series(verdict)
    assert [(s.name, dict(s.limits)) for s in series] == [
        ("event latency", {"p95": 300.0}),  # the budget holds the events only
        ("time to first event", {}),
    ]
    assert series[0].values == {"mean": 3.0, "max": 40.0, "p50": 2.0, "p95": 12.0, "p99": 20.0}
    write_verdict(verdict, tmp_path)
    svg = (tmp_path / "latency.svg").read_text(encoding="utf-8")
    assert "event latency — p95 × 25 under budget" in svg
    assert "time to first event" in svg
    assert "p95 budget ≤ 300 ms" in svg
    assert 'id="chart-agui-perf-load-latency"' in svg


def test_no_latency_measured_no_chart(tmp_path: Path) -> None:
    verdict = check_load(_stats(events=False), BUDGETS)
    assert latency_series(verdict) == []
    write_verdict(verdict, tmp_path)
    assert not (tmp_path / "latency.svg").exists()


# --- SSE client -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "payload"),
    [
        (b'data: {"a":1}', b'{"a":1}'),
        (b'data:{"a":1}', b'{"a":1}'),
        (b"data: one\ndata: two", b"one\ntwo"),
        (b"event: x\nid: 7\ndata: body", b"body"),
        (b": ping", None),
        (b"retry: 100", None),
        (b"data:  two spaces", b" two spaces"),
    ],
)
def test_frame_payload(frame: bytes, payload: bytes | None) -> None:
    assert frame_payload(frame) == payload


def _stream(params: WorkflowParams | None = None) -> bytes:
    events = list(iter_account_analysis("t", "r", params or WorkflowParams(tool_calls=2)))
    stamped = [{**event, "timestamp": 1_000 + i} for i, event in enumerate(events)]
    frames = [encode(event) for event in stamped]
    frames.insert(3, HEARTBEAT)
    return b"".join(frames)


@settings(deadline=None)  # a busy machine must not fail a test that measures nothing
@given(cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=40))
def test_frames_survive_any_chunking(cuts: list[int]) -> None:
    stream = _stream()
    bounds = sorted({min(cut, len(stream)) for cut in cuts} | {0, len(stream)})
    parser = FrameParser()
    payloads: list[bytes] = []
    for start, end in itertools.pairwise(bounds):
        payloads.extend(parser.feed(stream[start:end]))
    assert parser.pending == 0
    whole = FrameParser().feed(stream)
    assert payloads == whole
    assert [orjson.loads(p)["timestamp"] for p in payloads] == list(
        range(1_000, 1_000 + len(payloads))
    )


def test_crlf_framing_is_not_a_frame() -> None:
    # AG-UI clients split on "\n\n" only; a server framing with CRLF must fail here too.
    parser = FrameParser()
    assert parser.feed(b'data: {"type":"RUN_STARTED"}\r\n\r\n') == []
    assert parser.pending > 0


def _event(kind: str, ts: int | None = 1_000, **fields: object) -> bytes:
    event: dict[str, object] = {"type": kind, **fields}
    if ts is not None:
        event["timestamp"] = ts
    return orjson.dumps(event)


def test_a_good_run_gives_one_latency_per_event() -> None:
    parser, run = FrameParser(), RunCheck()
    latencies = [run.feed(p, received_ms=2_000.5) for p in parser.feed(_stream())]
    run.finish(parser.pending)
    assert run.finished
    assert run.events == len(latencies) > 20
    assert latencies == [2_000.5 - (1_000 + i) for i in range(run.events)]


def test_latency_never_negative() -> None:
    assert RunCheck().feed(_event("RUN_STARTED", ts=2_000), received_ms=1_999.0) == 0.0


@pytest.mark.parametrize(
    ("payloads", "reason"),
    [
        ([b"{not json"], "event frame is not JSON"),
        ([b"[1,2]"], "not a JSON object with a string 'type'"),
        ([_event("TEXT_MESSAGE_START")], "first event is TEXT_MESSAGE_START, not RUN_STARTED"),
        ([_event("RUN_STARTED", ts=None)], "RUN_STARTED without an integer 'timestamp'"),
        ([_event("RUN_STARTED", ts=True)], "without an integer 'timestamp'"),
        (
            [_event("RUN_STARTED"), _event("RUN_ERROR", message="model down", code="UPSTREAM")],
            "RUN_ERROR UPSTREAM: model down",
        ),
        ([_event("RUN_ERROR", message="no\nrun")], "RUN_ERROR: no run"),
        (
            [_event("RUN_STARTED"), _event("RUN_FINISHED"), _event("STEP_STARTED")],
            "STEP_STARTED after RUN_FINISHED",
        ),
    ],
)
def test_bad_events_fail_the_run(payloads: list[bytes], reason: str) -> None:
    run = RunCheck()
    *good, bad = payloads
    for payload in good:
        run.feed(payload, received_ms=1_000.0)
    with pytest.raises(RunFailure) as info:
        run.feed(bad, received_ms=1_000.0)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("payloads", "pending", "reason"),
    [
        ([], 0, "stream ended before the first event"),
        (
            [_event("RUN_STARTED"), _event("STEP_STARTED")],
            0,
            "without RUN_FINISHED (last event STEP_STARTED)",
        ),
        ([_event("RUN_STARTED"), _event("RUN_FINISHED")], 12, "stream ended inside a frame"),
    ],
)
def test_bad_endings_fail_the_run(payloads: list[bytes], pending: int, reason: str) -> None:
    run = RunCheck()
    for payload in payloads:
        run.feed(payload, received_ms=1_000.0)
    with pytest.raises(RunFailure, match=reason.replace("(", r"\(").replace(")", r"\)")):
        run.finish(pending)


def test_long_reasons_are_clipped() -> None:
    with pytest.raises(RunFailure) as info:
        RunCheck().feed(_event("RUN_ERROR", message="x" * 1_000), received_ms=0.0)
    assert len(str(info.value)) == 200


@pytest.mark.parametrize(
    ("status", "content_type", "reason"),
    [
        (0, None, "no response: ConnectionRefusedError: refused"),
        (503, "application/json", "HTTP 503"),
        (200, "application/json", "content type 'application/json' is not text/event-stream"),
        (200, None, "content type None"),
    ],
)
def test_bad_responses(status: int, content_type: str | None, reason: str) -> None:
    with pytest.raises(RunFailure) as info:
        check_response(status, content_type, ConnectionRefusedError("refused"))
    assert str(info.value).startswith(reason)


def test_event_stream_response_passes() -> None:
    check_response(200, "text/event-stream; charset=utf-8")


def test_run_body_is_a_run_agent_input_that_asks_for_timestamps() -> None:
    body = orjson.loads(run_body("paced", {"rate_per_s": 5.0, "text_chunks": 10}))
    parsed = RunAgentInput.model_validate(body)
    assert parsed.forwarded_props == {
        "workflow": "paced",
        "params": {"rate_per_s": 5.0, "text_chunks": 10, "stamp": "timestamp"},
    }
    assert WorkflowParams.from_mapping(body["forwardedProps"]["params"]).stamp == "timestamp"
    assert orjson.loads(run_body("paced", {}))["runId"] != body["runId"]


# --- session options ------------------------------------------------------------------------


def test_default_options() -> None:
    assert parse_load_args([]) == LoadOptions()


def test_options() -> None:
    options = parse_load_args(
        [
            *("--users", "300", "--spawn-rate", "50", "--duration", "45"),
            *("--workers", "2", "--server-workers", "2", "--user-class", "AccountAnalysisUser"),
            *("--workflow", "paced", "--think", "0.5,1"),
            *("--params", '{"rate_per_s":5,"text_chunks":50}'),
        ]
    )
    assert (options.users, options.spawn_rate, options.duration) == (300, 50.0, 45)
    assert (options.workers, options.server_workers) == (2, 2)
    assert options.user_classes == ("AccountAnalysisUser",)
    assert (options.workflow, options.think) == ("paced", (0.5, 1.0))


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--users", "0"], "0 is outside 1..5000"),
        (["--users", "many"], "'many' is not an integer"),
        (["--duration", "601"], "601 is outside 1..600"),
        (["--workers", "17"], "outside 0..16"),
        (["--spawn-rate", "nan"], "must be a number"),
        (["--think", "3,1"], "0 <= MIN <= MAX"),
        (["--params", "[1]"], "is not a JSON object"),
        (["--params", '{"colour": 1}'], "unknown workflow parameter 'colour'"),
        (["--params", '{"stamp": "off"}'], "'stamp' is set by the load test"),
        (["--user-class", "Nobody"], "invalid choice: 'Nobody'"),
    ],
)
def test_bad_options_are_one_line_errors(argv: list[str], fragment: str) -> None:
    with pytest.raises(GateError) as info:
        parse_load_args(argv)
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_locust_commands_local_and_distributed() -> None:
    (local,) = locust_commands(LoadOptions(users=20, duration=15), port=8123, master_port=5557)
    assert local[local.index("--host") + 1] == "http://127.0.0.1:8123"
    assert local[local.index("--run-time") + 1] == "15s"
    assert local[local.index("--users") + 1] == "20"
    assert "--master" not in local
    assert local[-2:] == ["AccountAnalysisUser", "BurstTrafficUser"]

    master, *workers = locust_commands(LoadOptions(workers=2), port=8123, master_port=5557)
    assert master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    assert master[master.index("--expect-workers") + 1] == "2"
    assert len(workers) == 2
    for worker in workers:
        assert worker[worker.index("--master-host") + 1] == "127.0.0.1"
        assert worker[worker.index("--master-port") + 1] == "5557"
        assert "--run-time" not in worker  # the master decides users and time
        assert "--reset-stats" not in worker


def test_steady_state_resets_stats_on_master_and_workers() -> None:
    options = LoadOptions(workers=2, steady_state=True)
    commands = locust_commands(options, port=8123, master_port=5557)
    assert all("--reset-stats" in command for command in commands)
    assert parse_load_args(["--steady-state"]).steady_state


def _check_only(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> int:
    pyproject = write_pyproject(
        tmp_path, "latency_p95_ms = 300\nerror_rate_max = 0.05\nthroughput_events_per_s_min = 100"
    )
    return main(["--check-only", "--out", str(tmp_path), "--pyproject", str(pyproject), *extra])


def test_check_only_pass_and_breach(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_csv(tmp_path)
    assert _check_only(tmp_path, capsys) == 0
    assert capsys.readouterr().out.startswith("**PASS: all 3 load budgets met")
    write_csv(tmp_path, p95="450")
    assert _check_only(tmp_path, capsys) == 1
    out = capsys.readouterr().out
    assert out.startswith("**BREACH: 1 of 3 load budgets breached")
    assert json.loads((tmp_path / "verdict.json").read_text())["outcome"] == "breach"


def test_unusable_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _check_only(tmp_path, capsys) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Locust CSV ")
    assert err.count("\n") == 1
    assert main(["--nope"]) == 2
    assert capsys.readouterr().err == (
        "error: nox -s load: unrecognized arguments: --nope — see nox -s load -- --help\n"
    )


def test_pure_modules_do_not_import_locust() -> None:
    # Locust is only in the `load` group; `nox -s tests` imports these without it.
    code = (
        "import sys, tests.load.run, tests.load.sse_client, agui_perf.gate.load; "
        "sys.exit('locust' in sys.modules or 'gevent' in sys.modules)"
    )
    env_path = f"{ROOT / 'src'}"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PYTHONPATH": f"{env_path}:{ROOT}"},
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
