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
        ({"budgets": {"latency_p99_ms": 1}}, "unknown budget 'latency_p99_ms'; known budgets:"),
        ({"budgets": {"workflow_s": -1}}, "budgets.workflow_s is -1.0; a budget cannot be"),
        ({"budgets": {"workflow_s": "10s"}}, "budgets.workflow_s is '10s'; expected a number"),
        ({"budgets": 5}, r"tool.agui_perf.budgets is 5; expected a table"),
        ({"budgets": {"workflow_s": {"benchmarks": ["w"]}}}, "budgets.workflow_s has no 'target'"),
        ({"budgets": {"workflow_s": {"target": 1, "max": 2}}}, "has unknown key 'max'"),
        ({"budgets": {"workflow_s": {"target": -1}}}, "workflow_s.target is -1.0; a budget"),
        (
            {"budgets": {"workflow_s": {"target": 1, "benchmarks": "w"}}},
            "workflow_s.benchmarks is 'w'; expected a non-empty list of benchmark names",
        ),
        ({"budgets": {"workflow_s": {"target": 1, "benchmarks": []}}}, "benchmarks is \\[\\]"),
        ({"min_effect_overrides": {"x": "big"}}, "min_effect_overrides.x is 'big'"),
    ],
)
def test_bad_values(table: dict[str, object], message: str) -> None:
    with pytest.raises(GateError, match=message) as err:
        settings_from_table(table)
    assert str(err.value).endswith("— fix [tool.agui_perf] in pyproject.toml")


def test_a_budget_may_name_its_benchmarks(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        [tool.agui_perf.budgets]
        latency_p95_ms = 300
        throughput_events_per_s_min = { target = 100, benchmarks = ["encode[ours]"] }
        """,
    )
    settings = load_settings(path)
    assert dict(settings.budgets) == {"latency_p95_ms": 300.0, "throughput_events_per_s_min": 100}
    assert settings.budgets == Budgets(
        {"latency_p95_ms": 300.0, "throughput_events_per_s_min": 100.0},
        {"throughput_events_per_s_min": ["encode[ours]"]},
    )
    data = settings_to_json(settings)
    assert data["budgets"] == {"latency_p95_ms": 300.0, "throughput_events_per_s_min": 100.0}
    assert data["budget_benchmarks"] == {"throughput_events_per_s_min": ["encode[ours]"]}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="does not exist — run the gate from the project root"):
        load_settings(tmp_path / "pyproject.toml")


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(GateError, match="is not valid TOML"):
        load_settings(_write(tmp_path, "[tool.agui_perf\n"))


def test_table_of_the_wrong_type(tmp_path: Path) -> None:
    with pytest.raises(GateError, match=r"\[tool.agui_perf\] is 3; expected a table"):
        load_settings(_write(tmp_path, "[tool]\nagui_perf = 3\n"))
