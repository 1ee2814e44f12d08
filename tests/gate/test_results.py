from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import numpy as np
import pytest

from agui_perf.gate.errors import GateError
from agui_perf.gate.store.results import (
    SERVER_CPU_SUFFIX,
    AllocationSite,
    BenchmarkResult,
    MemoryResult,
    ProcessRun,
    Results,
    check_complete,
    load_memory,
    load_pytest_benchmark,
    measured_name,
    merge_processes,
    results_from_json,
    results_to_json,
    server_cpu_figure,
)
from tests._support.results import make_memory, make_results, pb_doc, pb_entry

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


# --- pytest-benchmark input --------------------------------------------------------------------


def test_load_and_merge_three_processes() -> None:
    runs = [
        load_pytest_benchmark(
            pb_doc(
                pb_entry("test_encode", [m, m * 2, m * 3], {"events_per_s": 1000 * i, "tag": "x"}),
                pb_entry("test_app", [0.5, 0.5]),
            ),
            origin=f"process {i}",
        )
        for i, m in enumerate([1.0, 2.0, 3.0], start=1)
    ]
    merged = merge_processes(runs, expected=["test_app", "test_encode"])
    encode = merged["test_encode"]
    assert encode.samples == (2.0, 4.0, 6.0)
    assert encode.rounds[0] == (1.0, 2.0, 3.0)
    assert encode.median == 4.0
    assert encode.summary.rounds == 9
    assert encode.summary.min == 1.0
    assert encode.summary.max == 9.0
    assert encode.extra_info == {"events_per_s": 2000, "tag": "x"}
    assert merged["test_app"].summary.iqr == 0.0


def test_differing_string_extra_info_is_kept_visible() -> None:
    runs = [
        load_pytest_benchmark(pb_doc(pb_entry("b", [1.0], {"mode": mode})), origin=mode)
        for mode in ("fast", "slow")
    ]
    assert merge_processes(runs)["b"].extra_info == {"mode": "fast; slow"}


def test_float_extra_info_takes_the_median() -> None:
    runs = [
        load_pytest_benchmark(pb_doc(pb_entry("b", [1.0], {"p95": v})), origin=str(v))
        for v in (1.5, 9.0, 2.5)
    ]
    assert merge_processes(runs)["b"].extra_info == {"p95": 2.5}


def test_error_figures_take_the_worst_process() -> None:
    figures = [
        {"error_rate": 0.0, "errors": 0, "concurrent_streams": 100},
        {"error_rate": 0.25, "errors": 25, "concurrent_streams": 75},
        {"error_rate": 0.0, "errors": 0, "concurrent_streams": 100},
    ]
    runs = [
        load_pytest_benchmark(pb_doc(pb_entry("b", [1.0], info)), origin=str(i))
        for i, info in enumerate(figures)
    ]
    # One process that dropped streams must not be outvoted by two clean ones.
    assert merge_processes(runs)["b"].extra_info == {
        "concurrent_streams": 75,
        "error_rate": 0.25,
        "errors": 25,
    }


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "p1.json"
    path.write_text(json.dumps(pb_doc(pb_entry("b", [0.1, 0.2, 0.3]))))
    run = load_pytest_benchmark(path)
    assert run.origin == f"benchmark results '{path}'"
    assert run.benchmarks["b"].figure == 0.2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ("{", "is not valid JSON"),
        ('{"benchmarks": [{"name": "b", "stats": {"rounds": 1, "data": [NaN]}}]}', "NaN"),
        ('{"benchmarks": [{"name": "b", "stats": {"rounds": 1, "data": [Infinity]}}]}', "Inf"),
        ("[]", "should be a JSON object, found an array"),
        ("{}", "has no field 'benchmarks'"),
        ('{"benchmarks": []}', "holds no benchmarks: every benchmark crashed"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(GateError, match=message) as err:
        load_pytest_benchmark(path)
    assert f"'{path}'" in str(err.value)
    assert str(err.value).endswith("re-run the measurement (nox -s perf)")
    assert "\n" not in str(err.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    with pytest.raises(GateError, match=r"benchmark results '.*absent\.json' does not exist"):
        load_pytest_benchmark(path)


def _entry_with_stats(stats: object) -> dict[str, object]:
    entry = pb_entry("b", [1.0])
    entry["stats"] = stats
    return entry


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_entry_with_stats(None), "benchmark 'b' has no stats: it crashed"),
        ({"name": "b"}, "benchmark 'b' has no stats"),
        (_entry_with_stats({"rounds": 1}), r"no per-round times \(stats.data\)"),
        (_entry_with_stats({"rounds": 0, "data": []}), "benchmark 'b' ran zero rounds"),
        (_entry_with_stats({"rounds": 3, "data": [1.0]}), "1 round times .* stats.rounds is 3"),
        (_entry_with_stats({"data": [1.0]}), "has no field 'rounds'"),
        (pb_entry("b", [1.0, -0.5]), r"round 1 is -0.5; it must be non-negative"),
        (pb_entry("b", [1.0, float("nan")]), "round 1 is nan; a measurement must be a finite"),
        (pb_entry("b", [1.0, "fast"]), "round 1 should be a number, found 'fast'"),
        (pb_entry("b", [0.0, 0.0, 1.0]), "median time of 0 s"),
        (pb_entry("b", [1.0], {"hist": [1, 2]}), r"extra_info 'hist' is \[1, 2\]"),
        (pb_entry("b", [1.0], {"ok": True}), "extra_info 'ok' is True"),
        ({"stats": {}}, r"benchmark #1 has no field 'name'"),
    ],
)
def test_malformed_entries(entry: dict[str, object], message: str) -> None:
    with pytest.raises(GateError, match=message):
        load_pytest_benchmark(pb_doc(pb_entry("ok", [1.0]), entry), origin="run 'p1.json'")


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(GateError, match="two benchmarks named 'b'; give each test a distinct"):
        load_pytest_benchmark(pb_doc(pb_entry("b", [1.0]), pb_entry("b", [2.0])))


def test_benchmark_crashed_in_one_process() -> None:
    good = load_pytest_benchmark(pb_doc(pb_entry("a", [1.0]), pb_entry("b", [1.0])), origin="p1")
    crashed = load_pytest_benchmark(pb_doc(pb_entry("a", [1.0])), origin="benchmark results 'p2'")
    with pytest.raises(
        GateError,
        match=r"benchmark results 'p2': benchmark 'b' is missing \(present in 1 of 2 processes\)",
    ):
        merge_processes([good, crashed])


def test_benchmark_crashed_in_every_process() -> None:
    run = load_pytest_benchmark(pb_doc(pb_entry("a", [1.0])), origin="p1")
    with pytest.raises(GateError, match="benchmark 'b' is missing from every process"):
        merge_processes([run, run], expected=["a", "b"])


def test_merge_needs_a_process() -> None:
    with pytest.raises(GateError, match="no benchmark results to merge"):
        merge_processes([])


# --- the server's CPU time: a derived row ------------------------------------------------------

SERVER_INFO = {"pinning": "client cpu 0, server cpu 1", "events_per_s": 500.0}


def test_server_cpu_rounds_become_a_row_of_their_own() -> None:
    cpu_rounds = [[0.030, 0.020, 0.040], [0.021, 0.022, 0.029], [0.050, 0.025, 0.024]]
    runs = [
        load_pytest_benchmark(
            pb_doc(
                pb_entry(
                    "test_s[ours]",
                    [0.2, 0.1, 0.3],
                    {**SERVER_INFO, "server_cpu_s": rounds, "server_cpu_per_event_ns": 1000 + i},
                ),
                pb_entry("test_encode", [1.0]),
            ),
            origin=f"process {i}",
        )
        for i, rounds in enumerate(cpu_rounds)
    ]
    merged = merge_processes(runs, expected=["test_s[ours]", "test_encode"])
    derived = merged["test_s[ours] · server CPU"]
    assert sorted(merged) == ["test_encode", "test_s[ours]", "test_s[ours] · server CPU"]
    # Each process's lower quartile: with 3 rounds, the mean of the two lowest.
    assert derived.samples == pytest.approx((0.025, 0.0215, 0.0245))
    assert derived.rounds == tuple(tuple(r) for r in cpu_rounds)
    assert derived.summary.rounds == 9
    # Only the server's own figures: budgets and charts read each figure from one row.
    assert derived.extra_info == {
        "pinning": "client cpu 0, server cpu 1",
        "server_cpu_per_event_ns": 1001,
    }
    wall = merged["test_s[ours]"]
    assert wall.samples == (0.2, 0.2, 0.2)
    assert wall.extra_info["events_per_s"] == 500.0
    assert "server_cpu_s" not in wall.extra_info
    assert measured_name(derived.name) == "test_s[ours]"
    assert measured_name("test_s[ours]") == "test_s[ours]"
    assert derived.name == "test_s[ours]" + SERVER_CPU_SUFFIX


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 8, 12, 13, 60])
def test_the_server_cpu_figure_is_numpys_lower_quartile(count: int) -> None:
    rounds = [0.03 + 0.001 * ((7 * i) % count) + 0.0001 * i for i in range(count)]
    assert server_cpu_figure(rounds) == pytest.approx(float(np.percentile(rounds, 25)))


def test_a_phase_over_half_the_rounds_barely_moves_the_server_cpu_figure() -> None:
    steady = [0.0280, 0.0282, 0.0279, 0.0281, 0.0283, 0.0280, 0.0278, 0.0281, 0.0282, 0.0280]
    phased = steady[:5] + [t * 1.4 for t in steady[5:]]  # a host phase over the second half
    slower = [t * 1.1 for t in steady]  # a code change: every round 10 % dearer
    assert server_cpu_figure(phased) / server_cpu_figure(steady) < 1.01
    assert statistics.median(phased) / statistics.median(steady) > 1.15  # what the median did
    assert server_cpu_figure(slower) / server_cpu_figure(steady) == pytest.approx(1.1)


@pytest.mark.parametrize(
    ("rounds", "message"),
    [
        ([], "'server_cpu_s' should be a non-empty list of CPU seconds"),
        (0.03, "'server_cpu_s' should be a non-empty list of CPU seconds"),
        ([0.03, "fast"], r"'server_cpu_s'\[1\] should be a number, found 'fast'"),
        ([0.03, -0.01], r"'server_cpu_s'\[1\] is -0.01; it must be non-negative"),
        ([float("inf")], r"'server_cpu_s'\[0\] is inf; a measurement must be a finite"),
        ([0.0, 0.0, 0.1], "'server_cpu_s' has a CPU time of 0 s: the server's CPU clock did not"),
    ],
)
def test_malformed_server_cpu_rounds(rounds: object, message: str) -> None:
    entry = pb_entry("test_s", [1.0], {"server_cpu_s": rounds})
    with pytest.raises(GateError, match=rf"run 'p1.json': benchmark 'test_s' extra_info {message}"):
        load_pytest_benchmark(pb_doc(entry), origin="run 'p1.json'")


def test_a_server_cpu_row_cannot_shadow_a_benchmark() -> None:
    doc = pb_doc(pb_entry("b", [1.0], {"server_cpu_s": [0.5]}), pb_entry("b · server CPU", [1.0]))
    with pytest.raises(GateError, match="two benchmarks named 'b · server CPU'"):
        load_pytest_benchmark(doc)


def test_real_pytest_benchmark_output(tmp_path: Path) -> None:
    """The format, and how a crash shows up, as pytest-benchmark itself writes them."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_b.py").write_text(
        textwrap.dedent(
            """
            def test_ok(benchmark):
                benchmark.extra_info["events_per_s"] = 123.5
                benchmark.pedantic(sum, args=(range(100),), rounds=4, iterations=1)

            def test_crash(benchmark):
                def boom():
                    raise RuntimeError("boom")
                benchmark.pedantic(boom, rounds=4, iterations=1)
            """
        )
    )
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--benchmark-json={out}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # test_crash fails
    run = load_pytest_benchmark(out)
    assert set(run.benchmarks) == {"test_ok"}
    ok = run.benchmarks["test_ok"]
    assert len(ok.data) == 4
    assert ok.extra_info == {"events_per_s": 123.5}
    with pytest.raises(GateError, match="benchmark 'test_crash' is missing from every process"):
        merge_processes([run], expected=["test_ok", "test_crash"])


# --- memory input -------------------------------------------------------------------------------

MEMORY_DOC: dict[str, object] = {
    "scenario": "stream_1000",
    "peak_bytes": 2_000_000,
    "total_allocations": 5000,
    "leaked_bytes": 0,
    "top_sites": [
        {"location": "src/x.py:12", "function": "encode", "bytes": 4096, "allocations": 10}
    ],
}


def test_load_memory() -> None:
    mem = load_memory(MEMORY_DOC)
    assert mem == MemoryResult(
        "stream_1000", 2_000_000, 5000, 0, (AllocationSite("src/x.py:12", "encode", 4096, 10),)
    )


def test_load_memory_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(MEMORY_DOC))
    assert load_memory(path).peak_bytes == 2_000_000


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"peak_bytes": None}, "field 'peak_bytes' should be an integer, found None"),
        ({"peak_bytes": 0}, "field 'peak_bytes' is 0; it must be at least 1"),
        ({"leaked_bytes": -1}, "field 'leaked_bytes' is -1"),
        ({"total_allocations": 1.5}, "should be an integer, found 1.5"),
        ({"total_allocations": True}, "should be an integer, found True"),
        ({"top_sites": [{"location": "x"}]}, r"top_sites\[0\] has no field 'function'"),
        ({"top_sites": None}, "field 'top_sites' should be a JSON array"),
    ],
)
def test_malformed_memory(changes: dict[str, object], message: str) -> None:
    doc = {**MEMORY_DOC, **changes}
    with pytest.raises(GateError, match=message):
        load_memory(doc, origin="memory results 'm.json'")


def test_memory_missing_scenario_name() -> None:
    doc = {k: v for k, v in MEMORY_DOC.items() if k != "scenario"}
    with pytest.raises(GateError, match="memory results has no field 'scenario'"):
        load_memory(doc)


# --- Results JSON -------------------------------------------------------------------------------


def test_results_round_trip() -> None:
    results = make_results(
        {"a": [1.0, 1.1, 0.9], "b": [0.25]},
        [make_memory("m", sites=[AllocationSite("f.py:1", "f", 10, 1)])],
        extra_info={"a": {"latency_p95_ms": 12.5, "n": 3, "label": "x"}},
    )
    obj = results_to_json(results)
    assert results_from_json(json.loads(json.dumps(obj))) == results
    assert obj["schema_version"] == 2


def _broken(path: Sequence[str], value: object) -> dict[str, object]:
    obj = results_to_json(make_results({"a": [1.0, 2.0]}, [make_memory("m")]))
    target: dict[str, object] = obj
    for key in path[:-1]:
        nxt = target[key]
        assert isinstance(nxt, dict)
        target = nxt
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("schema_version",), 3, "has schema version 3; this gate reads version 1"),
        (("schema_version",), _DELETE, "has no field 'schema_version'"),
        (("source",), _DELETE, "has no field 'source'"),
        (("source", "dirty"), "no", "field 'dirty' should be true or false"),
        (("environment", "python_build"), ["x"], "'python_build' should be two strings"),
        (("benchmarks", "a", "samples"), [], "benchmark 'a' has no samples"),
        (("benchmarks", "a", "samples"), [1.0, math.nan], "sample 1 is nan"),
        (("benchmarks", "a", "samples"), [1.0, -2.0], "sample 1 is -2.0; it must be positive"),
        (("benchmarks", "a", "samples"), [0.0, 1.0], "sample 0 is 0.0; it must be positive"),
        (("benchmarks", "a", "rounds"), [[1.0]], "round times of 1 processes but 2 samples"),
        (("benchmarks", "a", "summary", "rounds"), 0, "summary has zero rounds"),
        (("benchmarks", "a", "summary", "iqr"), _DELETE, "summary has no field 'iqr'"),
        (("memory", "m", "peak_bytes"), -5, "'peak_bytes' is -5"),
    ],
)
def test_malformed_results_json(path: Sequence[str], value: object, message: str) -> None:
    with pytest.raises(GateError, match=message):
        results_from_json(_broken(path, value), origin="results 'r.json'")


def test_check_complete() -> None:
    check_complete(make_results({"a": [1.0]}))
    with pytest.raises(GateError, match="holds no benchmarks"):
        check_complete(make_results({}))
    results = make_results({"a": [1.0]})
    nan_bench = BenchmarkResult("a", (math.nan,), (), results.benchmarks["a"].summary)
    with pytest.raises(GateError, match="sample 0 is nan"):
        check_complete(Results(results.source, results.environment, {"a": nan_bench}))
    renamed = Results(
        source=results.source,
        environment=results.environment,
        benchmarks={"b": results.benchmarks["a"]},
    )
    with pytest.raises(GateError, match="benchmark 'b' is stored under the name 'a'"):
        check_complete(renamed)


def test_process_run_is_plain_data() -> None:
    run = load_pytest_benchmark(pb_doc(pb_entry("a", [3.0, 1.0, 2.0])), origin="o")
    assert isinstance(run, ProcessRun)
    assert run.benchmarks["a"].figure == 2.0
    assert run.benchmarks["a"].data == (3.0, 1.0, 2.0)
