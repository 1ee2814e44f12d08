"""gate.layout: `[tool.agui_perf.layout]` read, validated and checked against a tree."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate.errors import GateError
from agui_perf.gate.store.config import load_settings, settings_from_table
from agui_perf.gate.store.environment import GATE_PACKAGES, current_environment
from agui_perf.gate.store.layout import (
    DEFAULT_FINGERPRINT,
    Layout,
    check_tree,
    declared_benchmarks,
    layout_from_table,
    missing_in,
)

if TYPE_CHECKING:
    from pathlib import Path


def _pyproject(tmp_path: Path, layout: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        "[tool.agui_perf]\nalpha = 0.01\n\n[tool.agui_perf.layout]\n" + textwrap.dedent(layout)
    )
    return path


def test_defaults_are_todays_layout() -> None:
    layout = settings_from_table({}).layout
    assert layout == Layout()
    assert layout.benchmarks == "tests/benchmarks"
    assert layout.scenarios == "tests/benchmarks/memory_scenarios.py"
    assert layout.source == ("src",)
    assert layout.baselines == "baselines"
    assert layout.fingerprint_packages == ("orjson", "starlette", "uvicorn", "uvloop")


def test_a_full_table_is_read(tmp_path: Path) -> None:
    path = _pyproject(
        tmp_path,
        """
        benchmarks = "perf/bench"
        memory_scenarios = "perf/memory.py"
        source = ["lib", "vendor/python"]
        baselines = "perf/baselines"
        fingerprint_packages = ["fastapi", "pydantic", "fastapi"]
        """,
    )
    settings = load_settings(path)
    assert settings.alpha == 0.01  # the statistical keys beside the table still apply
    assert settings.layout == Layout(
        benchmarks="perf/bench",
        memory_scenarios="perf/memory.py",
        source=("lib", "vendor/python"),
        baselines="perf/baselines",
        fingerprint_packages=("fastapi", "pydantic"),  # a repeat counts once
    )
    assert settings.layout.scenarios == "perf/memory.py"


def test_the_default_scenarios_file_follows_the_benchmarks_folder() -> None:
    assert layout_from_table({"benchmarks": "perf/bench/"}).scenarios == (
        "perf/bench/memory_scenarios.py"
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"benchmark": "perf"},
            "[tool.agui_perf.layout] has unknown key 'benchmark'; known keys: baselines, "
            "benchmarks, fingerprint_packages, memory_scenarios, source — fix it in "
            "pyproject.toml",
        ),
        (
            {"benchmarks": 3},
            "[tool.agui_perf.layout].benchmarks is 3; expected a path relative to the project "
            "root — fix it in pyproject.toml",
        ),
        (
            {"benchmarks": "/srv/perf"},
            "[tool.agui_perf.layout].benchmarks is '/srv/perf', an absolute path; give it "
            "relative to the project root — fix it in pyproject.toml",
        ),
        (
            {"baselines": "../shared/baselines"},
            "[tool.agui_perf.layout].baselines is '../shared/baselines', which leaves the "
            "project; name a path inside it — fix it in pyproject.toml",
        ),
        (
            {"source": "src"},
            "[tool.agui_perf.layout].source is 'src'; expected a non-empty list of strings — "
            "fix it in pyproject.toml",
        ),
        (
            {"source": []},
            "[tool.agui_perf.layout].source is []; expected a non-empty list of strings — "
            "fix it in pyproject.toml",
        ),
        (
            {"source": ["src", "./src"]},
            "[tool.agui_perf.layout].source is ['src', 'src']; a folder is named twice — "
            "fix it in pyproject.toml",
        ),
        (
            {"source": ["."]},
            "[tool.agui_perf.layout].source is '.', the project root itself; name a folder "
            "inside it — fix it in pyproject.toml",
        ),
        (
            {"memory_scenarios": "perf/memory.toml"},
            "[tool.agui_perf.layout].memory_scenarios is 'perf/memory.toml'; expected a Python "
            "file (.py) — fix it in pyproject.toml",
        ),
        (
            {"fingerprint_packages": ["orjson", "not a name"]},
            "[tool.agui_perf.layout].fingerprint_packages has 'not a name', which is not a "
            'distribution name — name installed distributions as pip does, e.g. "orjson"',
        ),
        (
            {"fingerprint_packages": ["orjson", 1]},
            "[tool.agui_perf.layout].fingerprint_packages is ['orjson', 1]; expected a "
            "non-empty list of strings — fix it in pyproject.toml",
        ),
    ],
)
def test_bad_values_are_one_line_naming_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(GateError) as err:
        settings_from_table({"layout": table})
    assert str(err.value) == message


def test_a_layout_that_is_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[tool.agui_perf]\nlayout = "perf"\n')
    with pytest.raises(GateError, match=r"^\[tool\.agui_perf\.layout\] is 'perf'; expected a"):
        load_settings(path)


def _tree(root: Path, *folders: str) -> Path:
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return root


def test_check_tree_accepts_a_tree_with_the_folders(tmp_path: Path) -> None:
    root = _tree(tmp_path, "perf/bench", "lib")
    layout = layout_from_table({"benchmarks": "perf/bench", "source": ["lib"]})
    check_tree(layout, root)  # baselines folder and default scenarios file may be missing
    assert missing_in(layout, root) is None


def test_check_tree_names_the_missing_folder_and_the_key(tmp_path: Path) -> None:
    root = _tree(tmp_path, "perf/bench")
    with pytest.raises(GateError) as err:
        check_tree(layout_from_table({"benchmarks": "perf/bench", "source": ["lib"]}), root)
    assert str(err.value) == (
        f"[tool.agui_perf.layout].source is 'lib', but {root} has no such folder — create it "
        "or set source in [tool.agui_perf.layout] of pyproject.toml"
    )
    with pytest.raises(GateError) as err:
        check_tree(Layout(), _tree(tmp_path / "other", "src"))
    assert str(err.value) == (
        f"[tool.agui_perf.layout].benchmarks is 'tests/benchmarks' (the default), but "
        f"{tmp_path / 'other'} has no such folder — create it or set benchmarks in "
        "[tool.agui_perf.layout] of pyproject.toml"
    )
    assert missing_in(Layout(), tmp_path / "other") == "tests/benchmarks"


def test_check_tree_refuses_a_symlink_out_of_the_project(tmp_path: Path) -> None:
    outside = _tree(tmp_path / "outside", "bench")
    root = _tree(tmp_path / "project", "src")
    (root / "perf").symlink_to(outside, target_is_directory=True)
    with pytest.raises(GateError, match=r"^\[tool\.agui_perf\.layout\]\.benchmarks is "):
        check_tree(layout_from_table({"benchmarks": "perf/bench"}), root)


def test_check_tree_wants_an_explicit_scenarios_file_and_a_baselines_folder(
    tmp_path: Path,
) -> None:
    root = _tree(tmp_path, "tests/benchmarks", "src")
    with pytest.raises(GateError) as err:
        check_tree(layout_from_table({"memory_scenarios": "perf/mem.py"}), root)
    assert str(err.value) == (
        f"[tool.agui_perf.layout].memory_scenarios is 'perf/mem.py', but {root} has no such "
        "file — create it or drop memory_scenarios from [tool.agui_perf.layout]"
    )
    (root / "baselines").write_text("not a folder")
    with pytest.raises(GateError, match=r"\.baselines is 'baselines', which is a file, not a"):
        check_tree(Layout(), root)


def test_declared_benchmarks_is_lenient(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[project]\nname = 'x'\n")
    assert declared_benchmarks(path) == ("tests/benchmarks", False)
    path.write_text("[tool.agui_perf.layout]\nbenchmarks = 'perf/bench'\n")
    assert declared_benchmarks(path) == ("perf/bench", True)
    path.write_text("[tool.agui_perf.layout]\nbenchmarks = 3\n")
    assert declared_benchmarks(path) == ("tests/benchmarks", True)
    path.write_text("not = [valid")
    assert declared_benchmarks(path) == ("tests/benchmarks", False)


def test_the_fingerprint_holds_the_configured_packages_and_the_gates_own() -> None:
    env = current_environment(("pytest", "no-such-distribution-here"))
    assert list(env.packages) == ["pytest", "no-such-distribution-here", *GATE_PACKAGES]
    assert env.packages["no-such-distribution-here"] == "not installed"
    assert set(current_environment().packages) == {*DEFAULT_FINGERPRINT, *GATE_PACKAGES}
