from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from agui_perf.gate._io import Reader, atomic_write_text, dump_json, parse_json_text
from agui_perf.gate.errors import GateError

if TYPE_CHECKING:
    from pathlib import Path

READER = Reader("results 'r.json'", "re-run")


def test_atomic_write_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    atomic_write_text(path, "one\n")
    atomic_write_text(path, "two\n")
    assert path.read_text() == "two\n"
    assert os.listdir(tmp_path) == ["f.json"]


def test_atomic_write_gives_the_umask_mode_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "verdict.md", "x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "verdict.md").stat().st_mode & 0o777 == 0o644


def test_atomic_write_failure_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.json"
    path.write_text("old")

    def boom(src: object, dst: object) -> None:
        raise OSError("no")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="no"):
        atomic_write_text(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.json"]


def test_dump_json_refuses_nan() -> None:
    assert dump_json({"b": 1, "a": [1.5]}) == '{\n  "a": [\n    1.5\n  ],\n  "b": 1\n}\n'
    with pytest.raises(ValueError, match="not JSON compliant"):
        dump_json({"a": float("nan")})


def test_parse_rejects_non_finite_constants() -> None:
    with pytest.raises(GateError, match="holds a non-finite number -Infinity — re-run"):
        parse_json_text("[-Infinity]", origin="x", hint="re-run")


def test_gate_error_is_one_line() -> None:
    assert str(GateError("a\nb   c")) == "a b c"


def test_reader_messages() -> None:
    with pytest.raises(GateError) as err:
        READER.integer({"n": -1}, "n", "benchmark 'b'", minimum=0)
    assert (
        str(err.value)
        == "results 'r.json': benchmark 'b' field 'n' is -1; it must be at least 0 — re-run"
    )
    with pytest.raises(GateError, match="should be a JSON object, found null"):
        READER.mapping(None, "x")
    with pytest.raises(GateError, match=r"is 0\.0; it must be positive"):
        READER.check_number(0, "x", positive=True)
    assert READER.check_number(3, "x") == 3.0
