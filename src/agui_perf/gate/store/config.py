"""Gate settings from `[tool.agui_perf]` in pyproject.toml, validated once.

Default processes per side: 8. With n processes a side, the smallest one-sided exact
Mann-Whitney p-value is 1 / C(2n, n) (complete separation). Holm's first step tests the
smallest p against alpha / k; with k ~ 15 benchmarks and alpha = 0.01 that is 6.7e-4:

    n = 6: 1/924   = 1.1e-3  -> no benchmark can ever be significant
    n = 7: 1/3432  = 2.9e-4  -> only perfect separation or one swapped pair (U <= 1) passes
    n = 8: 1/12870 = 7.8e-5  -> up to three swapped pairs (U <= 3) pass at alpha / 15

So 7 is the bare minimum and 8 tolerates one noisy process on a shared runner, stays able to
reach significance up to about 128 benchmarks (alpha / k >= 7.8e-5), and costs one extra fresh
process a side.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from agui_perf.gate._codec import to_json
from agui_perf.gate.decide.budgets import BUDGETS, Budgets, Figure, figure_budget, figure_by_name
from agui_perf.gate.errors import GateError
from agui_perf.gate.store.layout import Layout, layout_from_table

if TYPE_CHECKING:
    import os
    from collections.abc import Mapping

__all__ = [
    "DEFAULT_PROCESSES",
    "SETTINGS_HINT",
    "Settings",
    "load_settings",
    "settings_from_table",
    "settings_to_json",
]

DEFAULT_PROCESSES = 8
SETTINGS_HINT = "fix [tool.agui_perf] in pyproject.toml"


@dataclass(frozen=True)
class Settings:
    alpha: float = 0.01  # family-wise false-alarm rate per run, after Holm
    min_effect: float = 0.10  # ratio of medians beyond 1 + min_effect counts as a change
    memory_tolerance: float = 0.02  # relative growth of peak bytes / allocations allowed
    processes: int = DEFAULT_PROCESSES  # fresh processes per side
    min_effect_overrides: Mapping[str, float] = field(default_factory=dict)
    # A `Budgets`: the targets, and the benchmarks a budget is limited to where it names them.
    budgets: Mapping[str, float] = field(default_factory=Budgets)
    #: `[tool.agui_perf.layout]`: where the project keeps what is measured (`gate.layout`).
    layout: Layout = field(default_factory=Layout)

    def min_effect_for(self, benchmark: str) -> float:
        return self.min_effect_overrides.get(benchmark, self.min_effect)


_KNOWN = {
    "alpha",
    "min_effect",
    "memory_tolerance",
    "processes",
    "min_effect_overrides",
    "budgets",
    "layout",
}


def _number(table: Mapping[str, object], key: str, where: str) -> float:
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise GateError(f"{where}.{key} is {value!r}; expected a number — {SETTINGS_HINT}")
    return float(value)


def _fraction(
    table: Mapping[str, object], key: str, where: str, *, low: float, high: float
) -> float:
    value = _number(table, key, where)
    if not low <= value <= high:
        raise GateError(
            f"{where}.{key} is {value!r}; expected a value from {low} to {high} — {SETTINGS_HINT}"
        )
    return value


def _table(obj: object, where: str) -> Mapping[str, object]:
    if not isinstance(obj, dict):
        raise GateError(f"{where} is {obj!r}; expected a table — {SETTINGS_HINT}")
    return obj


_BUDGETS_WHERE = "[tool.agui_perf.budgets]"
_BUDGET_TABLE_KEYS = ("benchmarks", "target")
_FIGURE_TABLE_KEYS = ("benchmarks", "figure", "max", "min")
_FIGURE_HOW = (
    'a figure budget is `<extra_info key>_max = N` (or `_min`), or a table { figure = "<extra_info '
    'key>", max = N } with `min` instead of `max` for a minimum'
)


def _budget_error(name: str, problem: str) -> GateError:
    return GateError(f"{_BUDGETS_WHERE}.{name}: {problem} — {SETTINGS_HINT}")


def _target(value: object, name: str, key: str | None = None) -> float:
    """A budget's limit: a finite number, not negative (a factor to it must mean something)."""
    shown = repr(value) if key is None else f"{key} = {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _budget_error(name, f"{shown} is not a number")
    if value < 0:
        raise _budget_error(name, f"{shown} is negative; a budget cannot be negative")
    return float(value)


def _benchmark_names(value: object, name: str) -> list[str]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(n, str) and n.strip() for n in value)
    ):
        raise _budget_error(
            name,
            f"benchmarks = {value!r}; expected a non-empty list of benchmark names (as the "
            "report prints them)",
        )
    return list(value)


def _unknown_key(table: Mapping[str, object], known: tuple[str, ...]) -> str | None:
    unknown = sorted(set(table) - set(known))
    return unknown[0] if unknown else None


def _figure_table(name: str, table: Mapping[str, object]) -> tuple[float, Figure]:
    """`{ figure = "<extra_info key>", max = N }` (or `min = N`): a budget on any figure."""
    if name in BUDGETS:
        raise _budget_error(
            name,
            f"is a built-in budget (on {BUDGETS[name].extra_info_key}) and names no figure; "
            "give this figure budget a name of its own",
        )
    unknown = _unknown_key(table, _FIGURE_TABLE_KEYS)
    if unknown is not None:
        raise _budget_error(
            name,
            f"unknown key {unknown!r}; a table with 'figure' takes 'max' or 'min' and "
            "optionally 'benchmarks'",
        )
    key = table["figure"]
    if not isinstance(key, str) or not key.strip():
        raise _budget_error(
            name, f'figure = {key!r}; expected the extra_info key of a figure, e.g. "agui_ttfe_s"'
        )
    limits = [kind for kind in ("max", "min") if kind in table]
    if len(limits) != 1:
        problem = "has both 'max' and 'min'" if limits else "has neither 'max' nor 'min'"
        raise _budget_error(
            name, f"{problem}; a figure budget is one limit (write two budgets for a range)"
        )
    kind: Literal["max", "min"] = "max" if limits == ["max"] else "min"
    return _target(table[kind], name, kind), figure_budget(key, kind)


def _budget(name: str, value: object) -> tuple[float, list[str] | None, Figure | None]:
    """One budget: its target, the benchmarks it names (or None: its default subjects) and,
    for a table with `figure`, the figure it limits (None: its name says which)."""
    table = value if isinstance(value, dict) else None
    names = None
    if table is not None and "benchmarks" in table:
        names = _benchmark_names(table["benchmarks"], name)
    if table is not None and "figure" in table:
        target, figure = _figure_table(name, table)
        return target, names, figure
    if name in {"_max", "_min"}:
        raise _budget_error(name, f"names no figure; {_FIGURE_HOW}")
    if figure_by_name(name) is None:
        problem = "has no 'figure'" if table is not None else "unknown budget"
        raise _budget_error(
            name, f"{problem}; {_FIGURE_HOW}; built-in budgets: {', '.join(sorted(BUDGETS))}"
        )
    if table is None:
        return _target(value, name), None, None
    unknown = _unknown_key(table, _BUDGET_TABLE_KEYS)
    if unknown is not None or "target" not in table:
        problem = f"unknown key {unknown!r}" if unknown is not None else "has no 'target'"
        raise _budget_error(
            name,
            f"{problem}; a budget named so is a number or a table with 'target' and optionally "
            "'benchmarks' (a list of benchmark names)",
        )
    return _target(table["target"], name, "target"), names, None


def _budgets(raw: Mapping[str, object]) -> Budgets:
    targets: dict[str, float] = {}
    benchmarks: dict[str, list[str]] = {}
    figures: dict[str, Figure] = {}
    for name in sorted(raw):
        targets[name], names, figure = _budget(name, raw[name])
        if names is not None:
            benchmarks[name] = names
        if figure is not None:
            figures[name] = figure
    return Budgets(targets, benchmarks, figures)


def settings_from_table(
    table: Mapping[str, object], *, where: str = "[tool.agui_perf]"
) -> Settings:
    """Validate a `[tool.agui_perf]` table; absent keys take their defaults."""
    prefix = "tool.agui_perf"
    unknown = sorted(set(table) - _KNOWN)
    if unknown:
        raise GateError(
            f"{where} has unknown key {unknown[0]!r}; known keys: {', '.join(sorted(_KNOWN))} "
            f"— {SETTINGS_HINT}"
        )
    defaults = Settings()
    alpha = defaults.alpha
    if "alpha" in table:
        # Above 0.5 a one-sided test would call noise a change more often than not.
        alpha = _fraction(table, "alpha", prefix, low=1e-9, high=0.5)
    min_effect = defaults.min_effect
    if "min_effect" in table:
        min_effect = _fraction(table, "min_effect", prefix, low=0.0, high=10.0)
    tolerance = defaults.memory_tolerance
    if "memory_tolerance" in table:
        tolerance = _fraction(table, "memory_tolerance", prefix, low=0.0, high=10.0)
    processes = defaults.processes
    if "processes" in table:
        value = table["processes"]
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 100:
            raise GateError(
                f"{prefix}.processes is {value!r}; expected an integer from 2 to 100 "
                f"(default {DEFAULT_PROCESSES}) — {SETTINGS_HINT}"
            )
        processes = value
    overrides: dict[str, float] = {}
    raw_overrides = _table(table.get("min_effect_overrides", {}), f"{prefix}.min_effect_overrides")
    for name in sorted(raw_overrides):
        overrides[name] = _fraction(
            raw_overrides, name, f"{prefix}.min_effect_overrides", low=0.0, high=10.0
        )
    budgets = _budgets(_table(table.get("budgets", {}), f"{prefix}.budgets"))
    layout = layout_from_table(_table(table.get("layout", {}), "[tool.agui_perf.layout]"))
    return Settings(
        alpha=alpha,
        min_effect=min_effect,
        memory_tolerance=tolerance,
        processes=processes,
        min_effect_overrides=overrides,
        budgets=budgets,
        layout=layout,
    )


def load_settings(pyproject: str | os.PathLike[str] = "pyproject.toml") -> Settings:
    """Read `[tool.agui_perf]`; a file without the table gives the defaults and no budgets."""
    path = Path(pyproject)
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise GateError(
            f"settings file '{path}' does not exist — run the gate from the project root"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise GateError(f"settings file '{path}' is not valid TOML ({err}) — fix it") from None
    tool = _table(document.get("tool", {}), "[tool]")
    return settings_from_table(_table(tool.get("agui_perf", {}), "[tool.agui_perf]"))


def settings_to_json(settings: Settings) -> dict[str, object]:
    budgets = settings.budgets
    named = budgets.benchmarks if isinstance(budgets, Budgets) else {}
    figures = budgets.figures if isinstance(budgets, Budgets) else {}
    return to_json(
        settings,
        skip={"layout"},
        # Only the budgets configured with `benchmarks = [...]`: {budget: [name, ...]}.
        budget_benchmarks={name: list(names) for name, names in named.items()},
        # Only the budgets configured with `figure = "..."`: {budget: {figure, kind}}.
        budget_figures={
            name: {"figure": figure.extra_info_key, "kind": figure.kind}
            for name, figure in figures.items()
        },
    )
