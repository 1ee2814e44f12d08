"""verdict-quality: the gate measured on unchanged code and on copies slowed down on purpose.

`python -m agui_perf.gate.quality` (`nox -s verdict-quality`) runs the gate as users run it,
several times, on an unchanged copy of the project (false alarms) and on copies with a slowdown
injected into a named function (detections), measures the true size of each slowdown
independently, and tabulates what the gate said. Modules: `options` and `cases` (what to run),
`inject` (pure source rewriting), `copies` (clones of HEAD), `suite` (the benchmarks there),
`measure` (calibration and true effect), `gate_runs` (the gate as a subprocess), `tally` and
`report` (the tables), `progress` (lines and time left), `cli` (the chain).
"""

from __future__ import annotations

__all__: list[str] = []
