from __future__ import annotations

from pathlib import Path

import pytest

from agui_perf.gate.decide.budgets import Budgets
from agui_perf.gate.decide.stats import min_attainable_p
from agui_perf.gate.errors import GateError
from agui_perf.gate.store.config import (
    DEFAULT_PROCESSES,
    Settings,
    load_settings,
    settings_from_table,
    settings_to_json,
)

PROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def test_the_project_settings_load() -> None:
    settings = load_settings(PROJECT)
    assert 0 < settings.alpha <= 0.5
    assert settings.processes >= 2
    assert set(settings.budgets) <= {
        "latency_mean_ms",
        "latency_p95_ms",
        "concurrent_streams_min",
        "workflow_s",
        "peak_memory_mb",
        "throughput_events_per_s_min",
        "error_rate_max",
    }


def test_full_table(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [tool.agui_perf]
        alpha = 0.05
        min_effect = 0.2
        memory_tolerance = 0
        processes = 10

        [tool.agui_perf.min_effect_overrides]
        "test_latency[paced]" = 0.3

        [tool.agui_perf.budgets]
        latency_p95_ms = 300
        error_rate_max = 0.05
        """,
    )
    settings = load_settings(path)
    assert settings == Settings(
        alpha=0.05,
        min_effect=0.2,
        memory_tolerance=0.0,
        processes=10,
        min_effect_overrides={"test_latency[paced]": 0.3},
        budgets={"error_rate_max": 0.05, "latency_p95_ms": 300.0},
    )
    assert settings.min_effect_for("test_latency[paced]") == 0.3
    assert settings.min_effect_for("other") == 0.2
    assert settings_to_json(settings)["processes"] == 10


def test_defaults_without_the_table(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path, "[project]\nname = 'x'\n")) == Settings()


def test_default_processes_reach_significance_after_holm() -> None:
    assert DEFAULT_PROCESSES == 8
    assert min_attainable_p(DEFAULT_PROCESSES, DEFAULT_PROCESSES) < Settings().alpha / 15


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"alpha": "0.01"}, r"tool.agui_perf.alpha is '0.01'; expected a number"),
        ({"alpha": True}, "alpha is True; expected a number"),
        ({"alpha": 0}, "alpha is 0.0; expected a value from 1e-09 to 0.5"),
        ({"alpha": 0.7}, "expected a value from 1e-09 to 0.5"),
        ({"min_effect": -0.1}, "min_effect is -0.1"),
        ({"memory_tolerance": float("nan")}, "memory_tolerance is nan; expected a number"),
        ({"processes": 1}, "processes is 1; expected an integer from 2 to 100"),
        ({"processes": 8.0}, "processes is 8.0"),
        ({"alhpa": 0.01}, "unknown key 'alhpa'; known keys: alpha, budgets"),
        ({"budgets": 5}, r"tool.agui_perf.budgets is 5; expected a table"),
        ({"min_effect_overrides": {"x": "big"}}, "min_effect_overrides.x is 'big'"),
    ],
)
def test_bad_values(table: dict[str, object], message: str) -> None:
    with pytest.raises(GateError, match=message) as err:
        settings_from_table(table)
    assert str(err.value).endswith("— fix [tool.agui_perf] in pyproject.toml")


# Every bad budget: one line naming the key, then what is wrong and how to write it.
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        # A name that is neither built in nor `<figure>_max` / `_min`.
        ("latency_p99_ms", 1, "latency_p99_ms: unknown budget; a figure budget is `<extra_info"),
        ("agui_ttfe_s", 0.05, "agui_ttfe_s: unknown budget; .* built-in budgets: concurrent"),
        ("_max", 1, "_max: names no figure; a figure budget is `<extra_info key>_max = N`"),
        ("workflow_s", -1, "workflow_s: -1 is negative; a budget cannot be negative"),
        ("workflow_s", "10s", "workflow_s: '10s' is not a number"),
        ("agui_ttfe_s_max", True, "agui_ttfe_s_max: True is not a number"),
        ("agui_ttfe_s_max", float("inf"), "agui_ttfe_s_max: inf is not a number"),
        ("agui_gap_p99_s_max", -0.1, "agui_gap_p99_s_max: -0.1 is negative"),
        # The tables of built-in and `_max` / `_min` names: a target, optionally benchmarks.
        ("workflow_s", {"benchmarks": ["w"]}, "workflow_s: has no 'target'; a budget named so"),
        ("workflow_s", {"target": 1, "max": 2}, "workflow_s: unknown key 'max'"),
        ("agui_bytes_max", {"max": 2}, "agui_bytes_max: unknown key 'max'"),
        ("workflow_s", {"target": -1}, "workflow_s: target = -1 is negative"),
        (
            "workflow_s",
            {"target": 1, "benchmarks": "w"},
            "workflow_s: benchmarks = 'w'; expected a non-empty list of benchmark names",
        ),
        ("workflow_s", {"target": 1, "benchmarks": []}, r"workflow_s: benchmarks = \[\];"),
        # A table naming its figure.
        ("ttfe", {"max": 0.05}, "ttfe: has no 'figure'; a figure budget is"),
        ("ttfe", {"figure": "agui_ttfe_s"}, "ttfe: has neither 'max' nor 'min'; a figure budget"),
        (
            "ttfe",
            {"figure": "agui_ttfe_s", "max": 0.05, "min": 0.0},
            "ttfe: has both 'max' and 'min'; a figure budget is one limit",
        ),
        ("ttfe", {"figure": "agui_ttfe_s", "max": "50ms"}, "ttfe: max = '50ms' is not a number"),
        ("ttfe", {"figure": "agui_ttfe_s", "min": -1}, "ttfe: min = -1 is negative"),
        ("ttfe", {"figure": "", "max": 0.05}, "ttfe: figure = ''; expected the extra_info key"),
        ("ttfe", {"figure": "  ", "max": 0.05}, "ttfe: figure = ' '; expected the extra_info"),
        ("ttfe", {"figure": 3, "max": 0.05}, "ttfe: figure = 3; expected the extra_info key"),
        (
            "ttfe",
            {"figure": "agui_ttfe_s", "target": 0.05},
            "ttfe: unknown key 'target'; a table with 'figure' takes 'max' or 'min'",
        ),
        (
            "ttfe",
            {"figure": "agui_ttfe_s", "max": 1, "benchmarks": [""]},
            "ttfe: benchmarks = \\[''\\]; expected a non-empty list",
        ),
        (
            "latency_p95_ms",
            {"figure": "agui_gap_p95_s", "max": 1},
            "latency_p95_ms: is a built-in budget \\(on latency_p95_ms\\) and names no figure",
        ),
    ],
)
def test_bad_budgets(name: str, value: object, message: str) -> None:
    with pytest.raises(GateError, match=message) as err:
        settings_from_table({"budgets": {name: value}})
    text = str(err.value)
    assert text.startswith(f"[tool.agui_perf.budgets].{name}: ")
    assert text.endswith("— fix [tool.agui_perf] in pyproject.toml")
    assert "\n" not in text


def test_any_figure_can_be_budgeted(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [tool.agui_perf.budgets]
        latency_p95_ms = 300
        agui_ttfe_s_max = 0.05
        agui_streams_held_min = 10
        gaps = { figure = "agui_gap_p99_s", max = 0.02, benchmarks = ["test_chat"] }
        bytes = { figure = "agui_bytes", min = 1 }
        agui_silence_max_s_max = { target = 1.5, benchmarks = ["test_chat"] }
        """,
    )
    budgets = load_settings(path).budgets
    assert dict(budgets) == {
        "agui_silence_max_s_max": 1.5,
        "agui_streams_held_min": 10.0,
        "agui_ttfe_s_max": 0.05,
        "bytes": 1.0,
        "gaps": 0.02,
        "latency_p95_ms": 300.0,
    }
    assert isinstance(budgets, Budgets)
    figures = {name: budgets.figure(name) for name in budgets}
    assert {n: (f.extra_info_key, f.kind, f.unit) for n, f in figures.items()} == {
        "agui_silence_max_s_max": ("agui_silence_max_s", "max", "s"),
        "agui_streams_held_min": ("agui_streams_held", "min", "streams"),
        "agui_ttfe_s_max": ("agui_ttfe_s", "max", "s"),
        "bytes": ("agui_bytes", "min", "B"),
        "gaps": ("agui_gap_p99_s", "max", "s"),
        "latency_p95_ms": ("latency_p95_ms", "max", "ms"),
    }
    assert figures["latency_p95_ms"].label == "event latency, p95"  # built-in, unchanged
    assert figures["gaps"].label == "agui_gap_p99_s"
    assert budgets.benchmarks == {
        "agui_silence_max_s_max": ("test_chat",),
        "gaps": ("test_chat",),
    }
    data = settings_to_json(load_settings(path))
    assert data["budget_figures"] == {
        "bytes": {"figure": "agui_bytes", "kind": "min"},
        "gaps": {"figure": "agui_gap_p99_s", "kind": "max"},
    }


def test_an_unknown_figure_has_no_unit() -> None:
    budgets = settings_from_table({"budgets": {"my_queue_depth_max": 4}}).budgets
    assert isinstance(budgets, Budgets)
    figure = budgets.figure("my_queue_depth_max")
    assert (figure.extra_info_key, figure.kind, figure.unit) == ("my_queue_depth", "max", "")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="does not exist — run the gate from the project root"):
        load_settings(tmp_path / "pyproject.toml")


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="is not valid TOML"):
        load_settings(_write(tmp_path, "[tool.agui_perf\n"))


def test_table_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"\[tool.agui_perf\] is 3; expected a table"):
        load_settings(_write(tmp_path, "[tool]\nagui_perf = 3\n"))
