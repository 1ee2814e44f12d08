"""gate._codec: dataclasses to JSON objects and back through the Reader's one-line errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import pytest

from agui_perf.gate._codec import from_json, plain, to_json
from agui_perf.gate._io import Reader
from agui_perf.gate.errors import GateError

READER = Reader("results 'r.json'", "re-run it")


class Colour(enum.StrEnum):
    RED = "red"


@dataclass(frozen=True)
class Inner:
    name: str
    count: int


@dataclass(frozen=True)
class Outer:
    colour: Colour
    pair: tuple[float, float]
    inner: Inner
    table: dict[str, Inner] = field(default_factory=dict)
    note: str | None = None


@dataclass(frozen=True)
class Flat:
    label: str
    on: bool
    count: int
    seconds: float


def test_to_json_writes_fields_as_plain_json_skips_and_replaces() -> None:
    obj = Outer(Colour.RED, (1.0, 2.0), Inner("a", 1), {"z": Inner("z", 2), "b": Inner("b", 3)})
    data = to_json(obj, skip={"note"}, inner="replaced")
    assert data == {
        "colour": "red",
        "pair": [1.0, 2.0],
        "inner": "replaced",
        "table": {"b": {"name": "b", "count": 3}, "z": {"name": "z", "count": 2}},
    }
    table = data["table"]
    assert isinstance(table, dict)
    assert list(table) == ["b", "z"]  # key-sorted, as the files are written
    assert plain((Colour.RED, None, {"k": (1,)})) == ["red", None, {"k": [1]}]


def test_from_json_reads_each_field_by_its_annotation() -> None:
    data = {"label": "x", "on": True, "count": 3, "seconds": 0.5}
    assert from_json(Flat, READER, data, "flat") == Flat("x", True, 3, 0.5)
    assert from_json(Flat, READER, data, "flat", count=7).count == 7


@pytest.mark.parametrize(
    ("changes", "minimum", "message"),
    [
        ({"label": 1}, {}, "results 'r.json': flat field 'label' should be a string, found 1"),
        ({"on": "yes"}, {}, "field 'on' should be true or false, found 'yes'"),
        ({"count": True}, {}, "field 'count' should be an integer, found True"),
        ({"count": 0}, {"count": 1}, "field 'count' is 0; it must be at least 1"),
        ({"seconds": -1.0}, {}, "flat field 'seconds' is -1.0; it must be non-negative"),
    ],
)
def test_from_json_errors_name_the_file_the_place_and_the_field(
    changes: dict[str, object], minimum: dict[str, int], message: str
) -> None:
    data = {"label": "x", "on": True, "count": 3, "seconds": 0.5, **changes}
    with pytest.raises(GateError) as err:
        from_json(Flat, READER, data, "flat", minimum=minimum)
    assert message in str(err.value)
    assert str(err.value).endswith(" — re-run it")
    assert "\n" not in str(err.value)


def test_from_json_reads_fields_in_order_and_names_the_first_missing() -> None:
    with pytest.raises(GateError, match="flat has no field 'on'"):
        from_json(Flat, READER, {"label": "x", "seconds": 1.0}, "flat")


def test_from_json_refuses_a_field_it_cannot_read() -> None:
    with pytest.raises(TypeError, match=r"Outer\.colour: no JSON reader for 'Colour'"):
        from_json(Outer, READER, {}, "outer")
