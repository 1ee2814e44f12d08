"""The cases of one harness run: unchanged (A/A) and the slowdowns, in the order they run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from agui_perf.gate.quality.inject import Work

__all__ = [
    "UNCHANGED",
    "Case",
    "plan_cases",
]


@dataclass(frozen=True)
class Case:
    """One kind of copy the gate runs on. `id` names its folders; `label` its table row."""

    id: str
    label: str
    work: Work | None = None  # None: unchanged
    target_effect: float | None = None  # --effect, as a fraction (0.125 = 12.5 % slower)
    iterations: int | None = None  # known from --iterations, or after calibration

    @property
    def slowed(self) -> bool:
        return self.work is not None


UNCHANGED = Case(id="unchanged", label="unchanged (A/A)")


def _pct(fraction: float) -> str:
    return f"{fraction * 100:.4g}"


def slowdown_case(
    work: Work, *, effect: float | None = None, iterations: int | None = None
) -> Case:
    if effect is not None:
        return Case(
            id=f"{work}-{_pct(effect)}pct",
            label=f"{work} +{_pct(effect)} %",
            work=work,
            target_effect=effect,
        )
    assert iterations is not None
    return Case(
        id=f"{work}-{iterations}it",
        label=f"{work} {iterations:,} iterations",
        work=work,
        iterations=iterations,
    )


def plan_cases(
    *,
    unchanged: bool,
    work: Work | None,
    effects: Sequence[float] = (),
    iterations: Sequence[int] = (),
) -> list[Case]:
    """Unchanged first (when asked for), then one slowdown per effect or iteration count."""
    cases = [UNCHANGED] if unchanged else []
    if work is not None:
        cases += [slowdown_case(work, effect=e) for e in effects]
        cases += [slowdown_case(work, iterations=k) for k in iterations]
    return cases
