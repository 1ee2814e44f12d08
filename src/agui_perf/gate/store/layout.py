"""Where a project keeps what the gate measures: `[tool.agui_perf.layout]` in pyproject.toml.

A table of its own, apart from the statistical settings beside it in `[tool.agui_perf]`: these
keys name files and folders of the project, the others tune the decision.

    benchmarks           the pytest benchmark suite          "tests/benchmarks"
    memory_scenarios     the memray scenarios file           "<benchmarks>/memory_scenarios.py"
    source               folders put first on PYTHONPATH     ["src"]
    baselines            where the baseline files live       "baselines"
    fingerprint_packages versions in the fingerprint   ["orjson", "starlette", "uvicorn", "uvloop"]

Every path is relative to the project root and stays inside it. Both sides of a comparison
(the accepted commit's worktree and the current tree) are measured with the *current* tree's
layout: the code under test changes between the sides, the way it is measured does not.
`layout_from_table` checks the form (types, relative paths); `check_tree` checks that a tree
has the folders, once for the current tree before anything is measured and once for the
accepted worktree (`missing_in`).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from agui_perf.gate.errors import GateError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_BENCHMARKS",
    "DEFAULT_FINGERPRINT",
    "LAYOUT_TABLE",
    "Layout",
    "check_tree",
    "declared_benchmarks",
    "layout_from_table",
    "missing_in",
]

LAYOUT_TABLE = "[tool.agui_perf.layout]"
DEFAULT_BENCHMARKS = "tests/benchmarks"
#: The scenarios file's name inside the benchmarks folder when `memory_scenarios` is not set.
SCENARIOS_NAME = "memory_scenarios.py"
#: The distributions whose version changes what this repository's streaming core does per event
#: or per byte. The gate's own instruments (memray, pytest-benchmark) are always added
#: (`environment.GATE_PACKAGES`): they change the numbers of any project.
DEFAULT_FINGERPRINT: tuple[str, ...] = ("orjson", "starlette", "uvicorn", "uvloop")
_HINT = "fix it in pyproject.toml"
# PEP 508 distribution names.
_DISTRIBUTION = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


@dataclass(frozen=True)
class Layout:
    """The project's layout; paths are POSIX strings relative to the project root."""

    benchmarks: str = DEFAULT_BENCHMARKS
    #: None: `<benchmarks>/memory_scenarios.py`, and a tree without that file has no scenarios.
    #: Set explicitly, the file must exist.
    memory_scenarios: str | None = None
    source: tuple[str, ...] = ("src",)
    baselines: str = "baselines"
    fingerprint_packages: tuple[str, ...] = field(default=DEFAULT_FINGERPRINT)

    @property
    def scenarios(self) -> str:
        """The scenarios file, relative to a tree's root."""
        if self.memory_scenarios is not None:
            return self.memory_scenarios
        return f"{self.benchmarks}/{SCENARIOS_NAME}"


_KNOWN = ("baselines", "benchmarks", "fingerprint_packages", "memory_scenarios", "source")


def _fail(key: str, problem: str, fix: str = _HINT) -> GateError:
    return GateError(f"{LAYOUT_TABLE}.{key} {problem} — {fix}")


def _relative(key: str, value: object) -> str:
    """A path inside the project, as a normalized POSIX string."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, f"is {value!r}; expected a path relative to the project root")
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:", value):
        raise _fail(key, f"is {value!r}, an absolute path; give it relative to the project root")
    if ".." in path.parts:
        raise _fail(key, f"is {value!r}, which leaves the project; name a path inside it")
    if path.as_posix() == ".":
        raise _fail(key, f"is {value!r}, the project root itself; name a folder inside it")
    return path.as_posix()


def _names(key: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(key, f"is {value!r}; expected a non-empty list of strings")
    return tuple(value)


def layout_from_table(table: Mapping[str, object]) -> Layout:
    """Validate a `[tool.agui_perf.layout]` table; absent keys take today's layout."""
    unknown = sorted(set(table) - set(_KNOWN))
    if unknown:
        raise GateError(
            f"{LAYOUT_TABLE} has unknown key {unknown[0]!r}; known keys: {', '.join(_KNOWN)} "
            f"— {_HINT}"
        )
    defaults = Layout()
    benchmarks = _relative("benchmarks", table.get("benchmarks", defaults.benchmarks))
    scenarios = None
    if "memory_scenarios" in table:
        scenarios = _relative("memory_scenarios", table["memory_scenarios"])
        if not scenarios.endswith(".py"):
            raise _fail("memory_scenarios", f"is {scenarios!r}; expected a Python file (.py)")
    source = defaults.source
    if "source" in table:
        source = tuple(_relative("source", path) for path in _names("source", table["source"]))
        if len(set(source)) != len(source):
            raise _fail("source", f"is {list(source)!r}; a folder is named twice")
    baselines = _relative("baselines", table.get("baselines", defaults.baselines))
    packages = defaults.fingerprint_packages
    if "fingerprint_packages" in table:
        packages = _names("fingerprint_packages", table["fingerprint_packages"])
        bad = [name for name in packages if not _DISTRIBUTION.match(name)]
        if bad:
            raise _fail(
                "fingerprint_packages",
                f"has {bad[0]!r}, which is not a distribution name",
                'name installed distributions as pip does, e.g. "orjson"',
            )
    return Layout(
        benchmarks=benchmarks,
        memory_scenarios=scenarios,
        source=source,
        baselines=baselines,
        fingerprint_packages=tuple(dict.fromkeys(packages)),
    )


def _inside(root: Path, relative: str) -> bool:
    # A symlink may point out of the project even when the path itself does not.
    return (root / relative).resolve().is_relative_to(root.resolve())


def check_tree(layout: Layout, root: Path) -> None:
    """The current tree has what the layout names; a GateError naming the key if not.

    The baselines folder may be missing (update-baseline creates it); the default scenarios
    file may be missing (no memory scenarios), one named explicitly may not.
    """
    folders = [("benchmarks", layout.benchmarks)] + [("source", path) for path in layout.source]
    for key, relative in folders:
        default = "" if key in _explicit(layout) else " (the default)"
        if not (root / relative).is_dir():
            raise _fail(
                key,
                f"is {relative!r}{default}, but {root} has no such folder",
                f"create it or set {key} in {LAYOUT_TABLE} of pyproject.toml",
            )
    paths = [*folders, ("baselines", layout.baselines), ("memory_scenarios", layout.scenarios)]
    for key, relative in paths:
        if not _inside(root, relative):
            raise _fail(key, f"is {relative!r}, which leads out of {root}; name a path inside it")
    if (root / layout.baselines).exists() and not (root / layout.baselines).is_dir():
        raise _fail("baselines", f"is {layout.baselines!r}, which is a file, not a folder")
    if layout.memory_scenarios is not None and not (root / layout.scenarios).is_file():
        raise _fail(
            "memory_scenarios",
            f"is {layout.scenarios!r}, but {root} has no such file",
            f"create it or drop memory_scenarios from {LAYOUT_TABLE}",
        )


def _explicit(layout: Layout) -> set[str]:
    defaults = Layout()
    explicit = set()
    if layout.benchmarks != defaults.benchmarks:
        explicit.add("benchmarks")
    if layout.source != defaults.source:
        explicit.add("source")
    return explicit


def declared_benchmarks(pyproject: Path) -> tuple[str, bool]:
    """(benchmarks folder, whether the layout is configured) as `pyproject` says, for finding
    the project root.

    Lenient on purpose: an unreadable file or a malformed table gives the default folder,
    and the settings, read once the root is found, say what is wrong with it.
    """
    try:
        with pyproject.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT_BENCHMARKS, False
    tool = document.get("tool")
    gate = tool.get("agui_perf") if isinstance(tool, dict) else None
    layout = gate.get("layout") if isinstance(gate, dict) else None
    if not isinstance(layout, dict):
        return DEFAULT_BENCHMARKS, False
    benchmarks = layout.get("benchmarks", DEFAULT_BENCHMARKS)
    return (benchmarks if isinstance(benchmarks, str) else DEFAULT_BENCHMARKS), True


def missing_in(layout: Layout, root: Path) -> str | None:
    """The first folder of the layout that the tree at `root` lacks ("perf/bench"), or None."""
    for relative in (layout.benchmarks, *layout.source):
        if not (root / relative).is_dir():
            return relative
    return None
