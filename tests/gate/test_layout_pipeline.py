"""A project laid out differently: `[tool.agui_perf.layout]` through the whole gate.

The toy keeps its benchmarks in `perf/bench`, its code (a package not called agui_perf) in
`lib/`, its baselines in `perf/baselines` and fingerprints pytest instead of the streaming
core's packages. The pipeline runs with the fake benchmark processes of test_pipeline (and
memray for real); one command-line run measures it for real from a subfolder.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.cli import project_root
from agui_perf.gate.decide.verdict import Overall
from agui_perf.gate.errors import GateError
from agui_perf.gate.measure.counts import _tree_dirs, count_targets
from agui_perf.gate.pipeline import Hooks, baseline_file, perf, update_baseline
from agui_perf.gate.store.baseline import read_baseline, write_baseline
from agui_perf.gate.store.config import load_settings
from agui_perf.gate.store.environment import GATE_PACKAGES
from tests._support.gate_cli import error_line, run_gate
from tests._support.git import commit_all, git, init_repo
from tests._support.toy import KEY, TOY_FILES, Fake, options, steady, stored_results, write_toy

if TYPE_CHECKING:
    from pathlib import Path

BASELINE = f"perf/baselines/{KEY}.json"
LAYOUT = """
[tool.agui_perf.layout]
benchmarks = "perf/bench"
source = ["lib"]
baselines = "perf/baselines"
fingerprint_packages = ["pytest"]
"""

#: TOY_FILES moved to the other layout, its package renamed: nothing may assume agui_perf.
MOVED: dict[str, str] = {
    ".gitignore": TOY_FILES[".gitignore"],
    "pyproject.toml": TOY_FILES["pyproject.toml"] + LAYOUT,
    "lib/toylib/__init__.py": TOY_FILES["src/agui_perf/__init__.py"],
    "perf/__init__.py": "",
    "perf/bench/__init__.py": "",
    "perf/bench/test_toy.py": TOY_FILES["tests/benchmarks/test_toy.py"]
    .replace("import agui_perf", "import toylib as agui_perf")
    .replace('"agui_perf_file"', '"toy_file"'),
    "perf/bench/memory_scenarios.py": TOY_FILES["tests/benchmarks/memory_scenarios.py"].replace(
        "import agui_perf", "import toylib as agui_perf"
    ),
}


def moved_repo(tmp_path: Path) -> tuple[Path, str]:
    """The moved toy in git, its baseline (stored numbers) committed last."""
    root = write_toy(init_repo(tmp_path / "toy"), MOVED)
    commit_all(root, "toy project, own layout")
    write_baseline(root / BASELINE, stored_results({"test_sum": 1e-3, "test_join": 2e-3}))
    return root, commit_all(root, "accept the toy baseline")


def real_memory_hooks(fake: Fake) -> Hooks:
    """The fake timing, but the memory stage for real (memray on the toy's scenario)."""
    fake_hooks = fake.hooks()
    return Hooks(
        launcher=fake_hooks.launcher,
        counts=fake_hooks.counts,
        write_report=fake_hooks.write_report,
        env=fake_hooks.env,
    )


def test_both_sides_are_measured_with_the_configured_layout(tmp_path: Path) -> None:
    root, accepted = moved_repo(tmp_path)
    fake = Fake(steady(1e-3, 1e-3))
    verdict = perf(options(root, processes=2), real_memory_hooks(fake))

    assert verdict.overall is Overall.PASS, verdict.headline
    assert verdict.accepted is not None
    assert verdict.accepted.commit == accepted  # found through perf/baselines/
    assert verdict.accepted.baseline_path == BASELINE
    worktree = (root / ".perf" / "worktrees" / accepted).resolve()
    sides = {job.side.label: job for job in fake.jobs}
    for label, tree in (("accepted", worktree), ("current", root.resolve())):
        job = sides[label]
        assert job.command[3] == str(tree / "perf" / "bench")  # the suite pytest collects
        assert job.env["PYTHONPATH"].split(":")[0] == str(tree / "lib")
        # The memory guard's packages: the current tree's, on both sides.
        assert job.side.packages == ("toylib",)
    # memray ran the scenarios file of perf/bench against lib/ on both sides.
    [memory] = verdict.memory
    assert memory.scenario == "toy_alloc"
    assert memory.baseline is not None
    assert memory.current is not None
    sites = [site.location for site in memory.current.top_sites]
    assert any(location.startswith("perf/bench/memory_scenarios.py:") for location in sites)
    assert not (root / "baselines").exists()
    written = json.loads((root / ".perf" / "report" / "results-current.json").read_text())
    assert written["source"]["tree_hash"] == git(root, "rev-parse", "HEAD:lib")
    assert set(written["environment"]["packages"]) == {"pytest", *GATE_PACKAGES}


def test_update_baseline_writes_into_the_configured_folder(tmp_path: Path) -> None:
    root = write_toy(init_repo(tmp_path / "toy"), MOVED)
    commit_all(root, "toy project, own layout")
    fake = Fake(steady(1e-3, 1e-3))
    update = update_baseline(options(root, processes=2), fake.hooks())
    assert update.path == BASELINE
    assert baseline_file(root)[1] == f"baselines/{KEY}.json"  # the default, for comparison
    stored = read_baseline(root / BASELINE, expected_key=KEY)
    assert sorted(stored.results.benchmarks) == ["test_join", "test_sum"]
    assert set(stored.results.environment.packages) == {"pytest", *GATE_PACKAGES}
    assert not (root / "baselines").exists()


def test_an_accepted_tree_without_the_configured_folder_is_one_error(tmp_path: Path) -> None:
    # Accepted with the default layout; the current tree moves to perf/bench and lib/.
    root = write_toy(init_repo(tmp_path / "toy"))
    accepted = commit_all(root, "toy project, default layout")
    git(root, "rm", "-r", "-q", "src", "tests")
    write_toy(root, MOVED)
    commit_all(root, "move to perf/ and lib/")
    fake = Fake(steady(1e-3, 1e-3))
    with pytest.raises(GateError) as err:
        perf(options(root, ref=accepted, processes=2), fake.hooks())
    assert str(err.value) == (
        f"the accepted code ({accepted[:10]}) has no perf/bench folder (the current tree's "
        "[tool.agui_perf.layout].benchmarks, which both sides use) — nothing to measure there; "
        "pass --ref with a commit that has it"
    )
    assert fake.jobs == []
    assert not (root / ".perf" / "worktrees" / accepted).exists()


def test_a_current_tree_without_its_source_folder_is_refused_before_measuring(
    tmp_path: Path,
) -> None:
    root, _ = moved_repo(tmp_path)
    git(root, "rm", "-r", "-q", "lib")
    fake = Fake(steady(1e-3, 1e-3))
    with pytest.raises(GateError) as err:
        perf(options(root, processes=2), fake.hooks())
    assert str(err.value) == (
        f"[tool.agui_perf.layout].source is 'lib', but {root.resolve()} has no such folder — "
        "create it or set source in [tool.agui_perf.layout] of pyproject.toml"
    )
    assert fake.jobs == []


def test_the_project_root_is_found_from_a_subfolder_by_the_configured_folder(
    tmp_path: Path,
) -> None:
    root = write_toy(tmp_path / "toy", MOVED)
    for start in (root, root / "perf" / "bench", root / "lib" / "toylib"):
        assert project_root(start) == root.resolve()
    # A layout table marks the project even before its folder exists (the settings then say
    # what is missing), and a pyproject.toml further down without one does not.
    (root / "perf" / "bench" / "test_toy.py").unlink()
    nested = root / "lib" / "sub"
    nested.mkdir()
    (nested / "pyproject.toml").write_text("[project]\nname = 'sub'\n")
    assert project_root(nested) == root.resolve()


def test_the_count_stage_uses_the_configured_folders(tmp_path: Path) -> None:
    root = write_toy(tmp_path / "toy", MOVED)
    (root / "perf" / "bench" / "test_cpu.py").write_text("import pytest\npytest.mark.cpu_bound\n")
    assert count_targets(root, "perf/bench") == ["perf/bench/test_cpu.py"]
    assert count_targets(root) == []  # the default folder is not there
    # The staged copy holds the top folders of the source and benchmarks folders.
    assert _tree_dirs(load_settings(root / "pyproject.toml").layout) == ["lib", "perf"]


def test_the_command_line_measures_the_moved_project_from_a_subfolder(tmp_path: Path) -> None:
    root, _ = moved_repo(tmp_path)
    out = tmp_path / "out"
    done = run_gate(root / "perf" / "bench", "perf", "--processes", "2", "--out", str(out))
    assert done.returncode == 0, error_line(done.stderr)
    assert done.stderr.splitlines()[0] == f"[perf] project root: {root.resolve()}"
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["overall"] == "pass"
    assert verdict["accepted"]["baseline_path"] == BASELINE
    # Each side imported its own lib/: the worktree's on the accepted side.
    imported = {
        side: json.loads((out / f"results-{side}.json").read_text())["benchmarks"]["test_sum"][
            "extra_info"
        ]["toy_file"]
        for side in ("accepted", "current")
    }
    assert imported["current"] == str(root.resolve() / "lib" / "toylib" / "__init__.py")
    assert imported["accepted"].startswith(str(root.resolve() / ".perf" / "worktrees"))
    assert imported["accepted"].endswith("/lib/toylib/__init__.py")
    assert [m["state"] for m in verdict["memory"]] == ["unchanged"]
