from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate._io import Reader
from agui_perf.gate.errors import GateError
from agui_perf.gate.store import environment
from agui_perf.gate.store.environment import (
    KEY_PACKAGES,
    current_environment,
    environment_differences,
    environment_from_json,
    environment_key,
    environment_to_json,
)
from tests._support.results import make_env

if TYPE_CHECKING:
    from pathlib import Path

READER = Reader("baseline 'b.json'", "run nox -s update-baseline")


def test_key_format() -> None:
    assert make_env().key == "linux-x86_64-cpython3.11"
    assert (
        environment_key(
            make_env(
                system="Darwin", machine="arm64", implementation="PyPy", python_version="3.10.14"
            )
        )
        == "darwin-arm64-pypy3.10"
    )


def test_current_environment() -> None:
    env = current_environment()
    assert env.python_version.startswith(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert set(env.packages) == set(KEY_PACKAGES)
    assert env.packages["pytest-benchmark"] != environment.NOT_INSTALLED
    assert environment_key() == env.key
    assert len(env.python_build) == 2


def test_cpu_model_from_cpuinfo(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Test CPU 9000\n")
    assert environment._cpu_model(cpuinfo) == "Test CPU 9000"
    assert environment._cpu_model(tmp_path / "absent")  # falls back, never empty


def test_json_round_trip() -> None:
    env = make_env()
    assert environment_from_json(environment_to_json(env), READER) == env


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"python_build": "main"}, "field 'python_build' should be a JSON array"),
        ({"packages": {"orjson": 3}}, "package 'orjson' has version 3"),
        ({"cpu_model": None}, "field 'cpu_model' should be a string"),
    ],
)
def test_bad_json(changes: dict[str, object], message: str) -> None:
    obj = {**environment_to_json(make_env()), **changes}
    with pytest.raises(GateError, match=message):
        environment_from_json(obj, READER)


def test_differences() -> None:
    a = make_env()
    b = make_env(python_build=("main", "Jun 1 2026"), packages={"orjson": "3.11.0"})
    assert environment_differences(a, a) == []
    assert environment_differences(a, b) == [
        "python_build 'main, May  9 2026 07:35:25' vs 'main, Jun 1 2026'",
        "orjson 3.10.0 vs 3.11.0",
        "starlette 0.47.0 vs not installed",
    ]
