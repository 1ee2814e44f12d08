"""The gate on a project outside this repository: `examples/sdk-fastapi`, end to end.

The example (a FastAPI app, its own pyproject.toml, benchmarks folder and committed baseline)
is copied to a temporary folder and given a git history of its own; then `agui-perf gate perf`
runs there as its user would run it, with the tool of this environment and the project's own
folders, at a small scale and with few processes. Three outcomes: unchanged code passes, an
injected slowdown fails with the benchmark named, a corrupt baseline exits 2 untouched.

The slowdown is a 50 ms sleep per run in a server whose whole run takes a few milliseconds:
certain at any scale and load, so the test checks the gate's chain, not its statistics
(tests/gate/test_decision_power.py does those).
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.store.environment import environment_key
from tests._support.gate_cli import error_line, run_gate
from tests._support.git import commit_all, git

if TYPE_CHECKING:
    import subprocess

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sdk-fastapi"
#: Small: two processes a side (the extension adds four where the first pass cannot settle),
#: the smallest workloads; the trend is left out (this history has one baseline commit).
GATE_ARGS = ("--processes", "2", "--scale", "0.05", "--history", "0")
BENCHMARKS = {"test_burst_events_per_second", "test_one_run"}
BASELINE = f"baselines/{environment_key()}.json"
#: The line the injected slowdown goes after, in the example's endpoint.
ENDPOINT = "    chunks = chunks_of(input_data)\n"
SLOWDOWN = "    __import__('time').sleep(0.05)  # injected by the test: 50 ms a run\n"


def _ignored(_folder: str, names: list[str]) -> set[str]:
    # What a checkout of the example would not hold.
    return {name for name in names if name in {".nox", ".perf", "__pycache__", ".benchmarks"}}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example in a repository of its own, its baseline for this environment committed.

    The example ships the baseline of the environment it was written in; on another one
    (another Python minor version) the first step of adopting the gate is the one taken here:
    `update-baseline` and commit it.
    """
    root = tmp_path_factory.mktemp("outside") / "sdk-fastapi"
    shutil.copytree(EXAMPLE, root, ignore=_ignored)
    git(root, "init", "-q")
    commit_all(root, "the sdk-fastapi example")
    if not (root / BASELINE).exists():
        update = run_gate(root, "update-baseline", *GATE_ARGS[:4])
        assert update.returncode == 0, update.stderr
        commit_all(root, "accept the baseline of this environment")
    return root


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template, history included, for one test to change."""
    root = tmp_path / "sdk-fastapi"
    shutil.copytree(template, root, symlinks=True)
    return root


def _verdict(root: Path) -> dict[str, object]:
    verdict: dict[str, object] = json.loads(
        (root / ".perf" / "report" / "verdict.json").read_text(encoding="utf-8")
    )
    return verdict


def _states(verdict: dict[str, object]) -> dict[str, str]:
    rows = verdict["benchmarks"]
    assert isinstance(rows, list)
    return {row["name"]: row["state"] for row in rows}


def _gate(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`agui-perf gate …` in `root`; what it printed is shown with `pytest -rP`."""
    done = run_gate(root, *args)
    print(f"exit {done.returncode}; stdout: {done.stdout.strip()}")
    print("stderr:", *done.stderr.splitlines()[-3:], sep="\n  ")
    return done


def _explain(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"


def _imports(path: Path) -> dict[str, bool]:
    """Every module `path` imports, and whether only under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for stmt in block.body
        for node in ast.walk(stmt)
    }
    found: dict[str, bool] = {}
    for node in ast.walk(tree):
        names = (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        for name in names:
            found[name] = found.get(name, True) and id(node) in typing_only
    return found


def test_the_example_is_a_project_of_its_own() -> None:
    # It must not lean on this repository: its code never names agui_perf, and a layout
    # table names its own folders.
    for path in EXAMPLE.glob("src/**/*.py"):
        assert "agui_perf" not in path.read_text(encoding="utf-8"), path
    pyproject = (EXAMPLE / "pyproject.toml").read_text(encoding="utf-8")
    assert '[tool.agui_perf.layout]\nbenchmarks = "benchmarks"' in pyproject
    assert 'agui_target = "app:app"' in pyproject
    assert list((EXAMPLE / "baselines").glob("*.json")), "the example commits a baseline"


def test_the_examples_benchmarks_use_only_the_service_suite() -> None:
    # No server code of their own (no conftest, no process, socket or HTTP client): the
    # plugin's fixtures serve and read the app; agui_perf is named for its types alone.
    assert not list(EXAMPLE.glob("benchmarks/**/conftest.py"))
    files = list(EXAMPLE.glob("benchmarks/**/*.py"))
    assert files
    for path in files:
        imports = _imports(path)
        assert set(imports) <= {"__future__", "os", "typing", "pytest"} | {
            name for name in imports if name.startswith(("agui_perf.suite", "pytest_benchmark"))
        }, (path, sorted(imports))
        runtime = [name for name, typing_only in imports.items() if not typing_only]
        assert not [name for name in runtime if name.startswith("agui_perf")], (path, runtime)
        source = path.read_text(encoding="utf-8")
        assert "agui_run" in source, path


def test_unchanged_code_passes(project: Path) -> None:
    done = _gate(project, "perf", *GATE_ARGS)
    assert done.returncode == 0, _explain(done)
    assert done.stdout.startswith("PASS: "), _explain(done)
    verdict = _verdict(project)
    assert verdict["overall"] == "pass"
    states = _states(verdict)
    assert set(states) == BENCHMARKS
    assert "regression" not in states.values()
    accepted = verdict["accepted"]
    assert isinstance(accepted, dict)
    assert accepted["baseline_path"] == BASELINE
    assert accepted["commit"] == git(project, "log", "-1", "--format=%H", "--", BASELINE)


def test_an_injected_slowdown_fails_and_names_the_benchmarks(project: Path) -> None:
    app = project / "src" / "app.py"
    source = app.read_text(encoding="utf-8")
    assert source.count(ENDPOINT) == 1
    app.write_text(source.replace(ENDPOINT, ENDPOINT + SLOWDOWN), encoding="utf-8")

    done = _gate(project, "perf", *GATE_ARGS)
    assert done.returncode == 1, _explain(done)
    assert done.stdout.startswith("FAIL: "), _explain(done)
    # Left uncommitted, as a change under review is: measured as the files are on disk.
    assert "[perf] note: the current code has uncommitted changes in src/" in done.stderr
    verdict = _verdict(project)
    assert verdict["overall"] == "fail"
    states = _states(verdict)
    assert states["test_one_run"] == "regression", states
    assert "test_one_run" in done.stdout


def test_a_corrupt_baseline_exits_2_and_stays_as_it_was(project: Path) -> None:
    baseline = project / BASELINE
    corrupt = baseline.read_bytes()[:-40]  # cut off: no longer JSON
    baseline.write_bytes(corrupt)

    done = _gate(project, "perf", *GATE_ARGS)
    assert done.returncode == 2, _explain(done)
    line = error_line(done.stderr)
    assert line.startswith("agui-perf gate perf: error: "), line
    assert BASELINE in line, line
    assert baseline.read_bytes() == corrupt


def test_the_update_printout_names_the_layouts_source_folders(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from agui_perf.gate import cli
    from agui_perf.gate.pipeline import BaselineUpdate
    from agui_perf.gate.store.results import Source

    update = BaselineUpdate(
        path="perf/baselines/x.json",
        rows=[],
        source=Source(commit="c" * 40, tree_hash="", dirty=True),
        previous_note=None,
        kept=[],
    )
    cli._print_update(update, ("lib", "app"))
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (
        "wrote perf/baselines/x.json (measured at cccccccccc, with uncommitted changes in "
        "lib/, app/)"
    )
    assert (
        "note: lib/, app/ has uncommitted changes — commit them together with the baseline" in out
    )


def test_the_quality_harness_reads_the_layout(tmp_path: Path) -> None:
    from agui_perf.gate.quality.copies import gate_ref
    from agui_perf.gate.quality.inject import InjectError, module_file

    # The example's code is a top-level module in its source folder.
    assert module_file(EXAMPLE, "app") == EXAMPLE / "src" / "app.py"
    root = tmp_path / "lib-layout"
    (root / "lib" / "pkg").mkdir(parents=True)
    (root / "lib" / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (root / "pyproject.toml").write_text('[tool.agui_perf.layout]\nsource = ["lib"]\n')
    assert module_file(root, "pkg.mod") == root / "lib" / "pkg" / "mod.py"
    with pytest.raises(InjectError, match=r"looked for lib/pkg/gone\.py and lib/pkg/gone/"):
        module_file(root, "pkg.gone")

    # A commit after the accepted one that touches only the layout's baselines folder keeps
    # the accepted commit; one that touches the code does not.
    git(root, "init", "-q")
    baseline = "perf/baselines/x.json"
    (root / baseline).parent.mkdir(parents=True)
    (root / baseline).write_text("{}\n")
    accepted = commit_all(root, "accept")
    (root / "perf" / "baselines" / "notes.md").write_text("notes\n")
    head = commit_all(root, "notes beside the baseline")
    assert gate_ref(root, baseline, head).ref is None
    (root / "lib" / "pkg" / "mod.py").write_text("def f():\n    return 2\n")
    head = commit_all(root, "code")
    assert gate_ref(root, baseline, head).ref == head
    assert accepted != head
