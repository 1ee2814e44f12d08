"""Rules of the repository's layout, read from the source with `ast` (imports anywhere count,
also inside functions and `if TYPE_CHECKING:` blocks).

- A test module imports its shared helpers from `tests._support`, never from another test
  module (`test_*.py`, `conftest.py`): each can be read, run and changed on its own.
  `tests/benchmarks/` is a suite of its own with its own helpers and is left out.
- `agui_perf.stream` (the streaming core) never imports the gate or the benchmark suite
  (`agui_perf.suite`, `tests`): the core must be usable, and measurable, without the code
  that measures it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
STREAM = ROOT / "src" / "agui_perf" / "stream"
#: Suites with helpers of their own, outside the rule on test modules.
OWN_SUITES = ("benchmarks",)
#: What the streaming core must not import.
NOT_FROM_STREAM = ("agui_perf.gate", "agui_perf.suite", "tests")


def module_name(path: Path, base: Path) -> str:
    """The dotted name of `path`, a file under `base`: `tests/gate/x.py` → `tests.gate.x`."""
    parts = list(path.relative_to(base.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, *, package: bool = False) -> set[str]:
    """Every module `source` imports, relative imports resolved against `module`.

    `from a import b` counts as both `a` and `a.b` (b may be a module); `package` says that
    `module` is a package's `__init__`, whose relative imports start at the package itself.
    """
    names: set[str] = set()
    here = module.split(".") if package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                parent = ".".join([*base, node.module] if node.module else base)
            else:
                parent = node.module or ""
            names.add(parent)
            names.update(f"{parent}.{alias.name}" for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    """A module pytest collects or loads as a conftest, under tests/."""
    last = name.rsplit(".", 1)[-1]
    return name.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def imported_test_modules(path: Path) -> list[str]:
    """The test modules that the file at `path` (under tests/) imports."""
    imported = imported_modules(
        path.read_text(encoding="utf-8"),
        module_name(path, TESTS),
        package=path.name == "__init__.py",
    )
    return sorted(name for name in imported if is_test_module(name))


def stream_violations(path: Path) -> list[str]:
    """The gate or suite modules that the file at `path` (in agui_perf.stream) imports."""
    imported = imported_modules(
        path.read_text(encoding="utf-8"),
        module_name(path, ROOT / "src" / "agui_perf"),
        package=path.name == "__init__.py",
    )
    return sorted(n for n in imported if any(within(n, banned) for banned in NOT_FROM_STREAM))


def _checked_test_files() -> list[Path]:
    return sorted(
        path for path in TESTS.rglob("*.py") if path.relative_to(TESTS).parts[0] not in OWN_SUITES
    )


# --- the checkers see what they must ------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "module", "found"),
    [
        ("from tests.gate.test_results import make_results", "tests.gate.test_x", True),
        ("import tests.stream.test_events", "tests.x", True),
        ("from tests.gate import test_results", "tests.gate.test_x", True),
        ("from .test_results import make_results", "tests.gate.test_x", True),
        ("from . import conftest", "tests.gate.test_x", True),
        ("if TYPE_CHECKING:\n    from tests.benchmarks.conftest import Scale", "tests.t", True),
        ("def f():\n    from tests.gate.test_pipeline import Fake", "tests.gate.test_x", True),
        ("from tests._support.results import make_results", "tests.gate.test_x", False),
        ("from tests.benchmarks._sse import post", "tests.test_x", False),
        ("from agui_perf.gate.measure import runner", "tests.gate.test_x", False),
    ],
)
def test_the_test_module_rule_sees_every_form_of_import(
    source: str, module: str, found: bool
) -> None:
    imported = imported_modules(source, module)
    assert any(is_test_module(name) for name in imported) is found, imported


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("from agui_perf.gate.measure.runner import Side", True),
        ("import agui_perf.gate", True),
        ("from agui_perf import gate", True),
        ("from ..gate import pipeline", True),
        ("from .. import suite", True),
        ("def f():\n    import agui_perf.suite.x", True),
        ("from tests.benchmarks.memory_scenarios import SCENARIOS", True),
        ("from agui_perf.stream.encoder import encode", False),
        ("from . import events", False),
        ("from agui_perf import __version__", False),
        ("import agui_perf.gateway", False),
    ],
)
def test_the_stream_rule_sees_every_form_of_import(source: str, found: bool) -> None:
    imported = imported_modules(source, "agui_perf.stream.response")
    violations = [n for n in imported if any(within(n, b) for b in NOT_FROM_STREAM)]
    assert bool(violations) is found, imported


# --- the rules hold -----------------------------------------------------------------------------


def test_no_test_module_imports_another_test_module() -> None:
    files = _checked_test_files()
    assert any(path.name.startswith("test_") for path in files)  # the walk found the suite
    offenders = {
        str(path.relative_to(ROOT)): names
        for path in files
        if (names := imported_test_modules(path))
    }
    assert offenders == {}, "move the shared helpers into tests/_support/"


def test_the_streaming_core_imports_neither_the_gate_nor_the_suites() -> None:
    files = sorted(STREAM.rglob("*.py"))
    assert (STREAM / "__init__.py") in files
    offenders = {
        str(path.relative_to(ROOT)): names for path in files if (names := stream_violations(path))
    }
    assert offenders == {}


# --- the architecture document stays true -----------------------------------------------------


ARCHITECTURE = ROOT / "docs" / "architecture.md"
GATE = ROOT / "src" / "agui_perf" / "gate"


def documented_modules(text: str) -> dict[str, set[str]]:
    """Per "### `gate.<package>`" section, the modules its table's first column names."""
    sections: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        heading = re.match(r"#{2,3} `gate\.(\w+)`", line)
        if heading:
            current = sections.setdefault(heading[1], set())
        elif line.startswith("#"):
            current = None
        elif current is not None and line.startswith("| `"):
            current.update(re.findall(r"`(\w+)`", line.split("|")[1]))
    return sections


def test_the_architecture_table_reader_sees_each_section() -> None:
    text = "### `gate.a`\n| `x`, `y` | does `z` |\n## Other\n| `w` | |\n### `gate.b`\n| `v` | |"
    assert documented_modules(text) == {"a": {"x", "y"}, "b": {"v"}}


def test_the_architecture_document_names_every_module_of_each_gate_subpackage() -> None:
    documented = documented_modules(ARCHITECTURE.read_text(encoding="utf-8"))
    packages = sorted(
        path.parent.name
        for path in GATE.glob("*/__init__.py")
        if path.parent.name not in ("quality",)  # described as a whole, in "Around the chain"
    )
    assert sorted(documented) == packages
    for package in packages:
        modules = {path.stem for path in (GATE / package).glob("*.py") if path.stem != "__init__"}
        assert documented[package] == modules, package
