"""Tests for agui_perf.gate.measure.memory: fresh-process memray runs, their records, errors."""

from __future__ import annotations

import json
import logging
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.memory import (
    MemoryRecord,
    MemoryScenarioError,
    ScenarioTimeoutError,
    UnknownScenarioError,
    _display_path,
    list_scenarios,
    run_all,
    run_scenario,
    source_packages,
)
from agui_perf.gate.progress import LOGGER

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
SCENARIOS = REPO / "tests" / "benchmarks" / "memory_scenarios.py"

CONTRACT_KEYS = {"scenario", "peak_bytes", "total_allocations", "leaked_bytes", "top_sites"}
SITE_KEYS = {"location", "function", "bytes", "allocations"}

# A measured tree of its own: its agui_perf must be the one the scenarios see, whatever
# agui_perf the test process has installed.
FAKE_PACKAGE = 'MARK = "measured tree"\n'
FAKE_SCENARIOS = textwrap.dedent(
    """\
    import os
    import threading

    import agui_perf

    KEPT = []


    def marked():
        if getattr(agui_perf, "MARK", None) != "measured tree":
            raise RuntimeError(f"agui_perf came from {agui_perf.__file__}")
        blocks = []
        for _ in range(10):
            blocks.append(bytearray(100_000))  # BIG


    def leaky():
        KEPT.append(bytearray(50_000))


    def churn():
        for _ in range(1000):
            bytearray(1000)


    def env_check():
        seed = os.environ.get("PYTHONHASHSEED")
        malloc = os.environ.get("PYTHONMALLOC")
        if seed != "0" or malloc is not None:
            raise RuntimeError(f"PYTHONHASHSEED={seed} PYTHONMALLOC={malloc}")


    def boom():
        raise ZeroDivisionError("on purpose")


    def hang():
        threading.Event().wait()


    SCENARIOS = {
        "marked": marked,
        "leaky": leaky,
        "churn": churn,
        "env_check": env_check,
        "boom": boom,
        "hang": hang,
        "not_callable": 42,
    }
    """
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A worktree-like folder: src/agui_perf/ and tests/bench/scenarios.py."""
    package = tmp_path / "tree" / "src" / "agui_perf"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_PACKAGE)
    bench = tmp_path / "tree" / "tests" / "bench"
    bench.mkdir(parents=True)
    (bench / "scenarios.py").write_text(FAKE_SCENARIOS)
    return tmp_path / "tree"


def _run(tree: Path, name: str, out: Path, *, timeout: float = 120) -> MemoryRecord:
    return run_scenario(
        name,
        src_dir=tree / "src",
        scenarios_file=tree / "tests" / "bench" / "scenarios.py",
        out_dir=out,
        timeout=timeout,
    )


def test_workflow_run_is_identical_in_two_fresh_processes(tmp_path: Path) -> None:
    first = run_scenario(
        "workflow_run", src_dir=SRC, scenarios_file=SCENARIOS, out_dir=tmp_path / "a"
    )
    second = run_scenario(
        "workflow_run", src_dir=SRC, scenarios_file=SCENARIOS, out_dir=tmp_path / "b"
    )
    assert first["peak_bytes"] > 0
    assert first["total_allocations"] > 0
    assert (first["peak_bytes"], first["total_allocations"]) == (
        second["peak_bytes"],
        second["total_allocations"],
    )
    # Not only the totals: leaked bytes and every top site agree too.
    assert first == second


def test_same_code_from_another_worktree_and_out_dir_measures_the_same(tmp_path: Path) -> None:
    # The gate measures the accepted commit from a worktree somewhere else: an unchanged
    # scenario must compare as exactly equal, whatever the two paths are.
    records = []
    for tree, out in [(tmp_path / "a", tmp_path / "o"), (tmp_path / "a-longer-tree", tmp_path)]:
        shutil.copytree(SRC, tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
        (tree / "tests" / "benchmarks").mkdir(parents=True)
        shutil.copy(SCENARIOS, tree / "tests" / "benchmarks")
        records.append(
            run_scenario(
                "workflow_run",
                src_dir=tree / "src",
                scenarios_file=tree / "tests" / "benchmarks" / SCENARIOS.name,
                out_dir=out / "a-much-longer-output-folder",
            )
        )
    assert records[0] == records[1]


def test_record_is_written_in_the_contract_shape(tmp_path: Path) -> None:
    record = run_scenario("workflow_run", src_dir=SRC, scenarios_file=SCENARIOS, out_dir=tmp_path)
    on_disk = json.loads((tmp_path / "workflow_run.json").read_text())
    assert on_disk == record
    assert set(on_disk) == CONTRACT_KEYS
    assert on_disk["scenario"] == "workflow_run"
    assert 0 < len(on_disk["top_sites"]) <= 10
    for site in on_disk["top_sites"]:
        assert set(site) == SITE_KEYS
        assert re.fullmatch(r"[^/].*:\d+", site["location"]), site
    sizes = [site["bytes"] for site in on_disk["top_sites"]]
    assert sizes == sorted(sizes, reverse=True)
    # The capture file is read and removed: it holds every allocation, tens of MB.
    assert not (tmp_path / "workflow_run.bin").exists()


def test_sites_in_the_measured_tree_are_named_relative_to_it(tree: Path, tmp_path: Path) -> None:
    record = _run(tree, "marked", tmp_path / "out")
    big_line = FAKE_SCENARIOS.splitlines().index(
        next(line for line in FAKE_SCENARIOS.splitlines() if line.endswith("# BIG"))
    )
    top = record["top_sites"]
    assert top[0]["location"] == f"tests/bench/scenarios.py:{big_line + 1}"
    assert top[0]["function"] == "marked"
    assert top[0]["bytes"] >= 10 * 100_000
    assert top[0]["allocations"] >= 10
    assert record["peak_bytes"] >= 10 * 100_000


def test_memory_kept_by_the_tracked_run_is_reported_as_leaked(tree: Path, tmp_path: Path) -> None:
    leaky = _run(tree, "leaky", tmp_path / "leaky")
    marked = _run(tree, "marked", tmp_path / "marked")
    # The warm-up call's block was kept before tracking began: only one block counts.
    assert 50_000 <= leaky["leaked_bytes"] < 100_000
    assert marked["leaked_bytes"] < 50_000


def test_allocations_count_allocation_calls_not_frees(tree: Path, tmp_path: Path) -> None:
    record = _run(tree, "churn", tmp_path)
    # Two allocations per bytearray (object, buffer) plus the loop's ints; memray's own
    # metadata.total_allocations would also count the ~3,000 frees.
    assert 2_000 <= record["total_allocations"] < 4_000


def test_child_gets_a_clean_environment_with_a_fixed_hash_seed(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "123")
    monkeypatch.setenv("PYTHONMALLOC", "malloc")
    record = _run(tree, "env_check", tmp_path)
    assert record["scenario"] == "env_check"


def test_tree_without_agui_perf_is_not_measured_against_another_one(tmp_path: Path) -> None:
    # Without the guard an installed (editable) agui_perf would be measured instead. The
    # pipeline names the current tree's packages (`source_packages`), which this tree lacks.
    (tmp_path / "src").mkdir()
    scenarios = tmp_path / "scenarios.py"
    scenarios.write_text("import agui_perf\nSCENARIOS = {'any': lambda: None}\n")
    with pytest.raises(MemoryScenarioError, match=r"^memory scenario 'any': agui_perf was imp"):
        run_scenario(
            "any",
            src_dir=tmp_path / "src",
            scenarios_file=scenarios,
            out_dir=tmp_path,
            packages=("agui_perf",),
        )
    assert source_packages([SRC]) == ("agui_perf",)
    (tmp_path / "src" / "solo.py").write_text("")
    (tmp_path / "src" / "__pycache__").mkdir()
    assert source_packages([tmp_path / "src", tmp_path / "missing"]) == ("solo",)


def test_unknown_scenario_names_the_known_ones(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownScenarioError) as caught:
        _run(tree, "nope", tmp_path)
    message = str(caught.value)
    assert "'nope'" in message
    assert "marked" in message
    assert "leaky" in message
    assert isinstance(caught.value, GateError)


def test_crashing_scenario_is_one_line_with_the_cause(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(MemoryScenarioError) as caught:
        _run(tree, "boom", tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "'boom'" in message
    assert "ZeroDivisionError: on purpose" in message
    assert caught.value.log == tmp_path / "boom.log"
    assert "Traceback" in (tmp_path / "boom.log").read_text()
    assert not (tmp_path / "boom.json").exists()


def test_scenarios_file_that_fails_to_import_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import agui_perf_no_such_module\n")
    with pytest.raises(MemoryScenarioError, match="No module named 'agui_perf_no_such_module'"):
        run_scenario("any", src_dir=SRC, scenarios_file=broken, out_dir=tmp_path / "out")


def test_file_without_a_registry_is_reported(tmp_path: Path) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(MemoryScenarioError, match="defines no SCENARIOS"):
        run_scenario("any", src_dir=SRC, scenarios_file=empty, out_dir=tmp_path / "out")


def test_entry_that_is_not_callable_is_reported(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(MemoryScenarioError, match="not a callable"):
        _run(tree, "not_callable", tmp_path)


def test_scenario_that_does_not_finish_times_out(tree: Path, tmp_path: Path) -> None:
    # Whatever the machine's speed, `hang` never returns: the timeout is the only way out.
    with pytest.raises(ScenarioTimeoutError) as caught:
        _run(tree, "hang", tmp_path, timeout=2)
    assert "'hang'" in str(caught.value)
    assert "did not finish within 2 s" in str(caught.value)


def test_missing_source_folder_is_reported_before_starting(tmp_path: Path) -> None:
    with pytest.raises(MemoryScenarioError, match=r"source folder .* does not exist"):
        run_scenario(
            "workflow_run",
            src_dir=tmp_path / "nowhere",
            scenarios_file=SCENARIOS,
            out_dir=tmp_path,
        )


def test_missing_python_is_reported(tmp_path: Path) -> None:
    with pytest.raises(MemoryScenarioError, match="cannot start"):
        run_scenario(
            "workflow_run",
            src_dir=SRC,
            scenarios_file=SCENARIOS,
            out_dir=tmp_path,
            python=str(tmp_path / "no-python"),
        )


def test_run_all_reports_progress(
    tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    records = run_all(
        ["marked", "leaky"],
        src_dir=tree / "src",
        scenarios_file=tree / "tests" / "bench" / "scenarios.py",
        out_dir=tmp_path,
    )
    assert [r["scenario"] for r in records] == ["marked", "leaky"]
    lines = caplog.messages
    assert lines[0] == "memory 1/2 marked …"
    assert re.fullmatch(r"memory 1/2 marked: peak [\d.]+ MB, [\d,]+ allocations, .*s\)", lines[1])
    assert lines[2] == "memory 2/2 leaky …"
    assert len(lines) == 4


def test_list_scenarios_reads_the_registry() -> None:
    names = list_scenarios(src_dir=SRC, scenarios_file=SCENARIOS)
    assert names == sorted(
        [
            "workflow_run",
            "sequential_streams_100",
            "concurrent_streams_100",
            "concurrent_streams_1000",
        ]
    )


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("/venv/lib/python3.11/site-packages/starlette/routing.py", "starlette/routing.py"),
        ("/usr/lib/python3.11/asyncio/queues.py", "asyncio/queues.py"),
        ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap>"),
    ],
)
def test_paths_outside_the_tree_are_named_machine_independently(
    filename: str, expected: str
) -> None:
    roots = [(Path("/work/tree/src"), "src/")]
    assert _display_path(filename, roots) == (expected, False)


def test_paths_inside_the_tree_are_relative_to_it() -> None:
    roots = [(Path("/w/src"), "src/"), (Path("/w/tests/benchmarks"), "tests/benchmarks/")]
    assert _display_path("/w/src/agui_perf/stream/response.py", roots) == (
        "src/agui_perf/stream/response.py",
        True,
    )
    assert _display_path("/w/tests/benchmarks/memory_scenarios.py", roots) == (
        "tests/benchmarks/memory_scenarios.py",
        True,
    )
