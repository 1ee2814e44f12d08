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
from typing import TYPE_CHECKING

from agui_perf.gate._codec import to_json
from agui_perf.gate.decide.budgets import BUDGETS, Budgets
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


_BUDGET_TABLE_KEYS = ("benchmarks", "target")


def _budget(raw: Mapping[str, object], name: str, where: str) -> tuple[float, list[str] | None]:
    """One budget: a number (its target), or `{target = N, benchmarks = ["name", ...]}`."""
    value: object = raw[name]
    names: list[str] | None = None
    if isinstance(value, dict):
        where = f"{where}.{name}"
        unknown = sorted(set(value) - set(_BUDGET_TABLE_KEYS))
        if unknown or "target" not in value:
            problem = f"has unknown key {unknown[0]!r}" if unknown else "has no 'target'"
            raise GateError(
                f"{where} {problem}; a budget is a number or a table with 'target' and "
                f"optionally 'benchmarks' (a list of benchmark names) — {SETTINGS_HINT}"
            )
        if "benchmarks" in value:
            listed = value["benchmarks"]
            if (
                not isinstance(listed, list)
                or not listed
                or not all(isinstance(n, str) and n.strip() for n in listed)
            ):
                raise GateError(
                    f"{where}.benchmarks is {listed!r}; expected a non-empty list of benchmark "
                    f"names (as the report prints them) — {SETTINGS_HINT}"
                )
            names = list(listed)
        target = _number(value, "target", where)
        shown = f"{where}.target"
    else:
        target = _number(raw, name, where)
        shown = f"{where}.{name}"
    if target < 0:
        raise GateError(f"{shown} is {target!r}; a budget cannot be negative — {SETTINGS_HINT}")
    return target, names


def _budgets(raw: Mapping[str, object], prefix: str) -> Budgets:
    targets: dict[str, float] = {}
    benchmarks: dict[str, list[str]] = {}
    for name in sorted(raw):
        if name not in BUDGETS:
            raise GateError(
                f"{prefix}.budgets has unknown budget {name!r}; known budgets: "
                f"{', '.join(sorted(BUDGETS))} — {SETTINGS_HINT}"
            )
        targets[name], names = _budget(raw, name, f"{prefix}.budgets")
        if names is not None:
            benchmarks[name] = names
    return Budgets(targets, benchmarks)


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
    budgets = _budgets(_table(table.get("budgets", {}), f"{prefix}.budgets"), prefix)
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


def _named(settings: Settings) -> Mapping[str, tuple[str, ...]]:
    budgets = settings.budgets
    return budgets.benchmarks if isinstance(budgets, Budgets) else {}


def settings_to_json(settings: Settings) -> dict[str, object]:
    return to_json(
        settings,
        skip={"layout"},
        # Only the budgets configured with `benchmarks = [...]`: {budget: [name, ...]}.
        budget_benchmarks={name: list(names) for name, names in _named(settings).items()},
    )
