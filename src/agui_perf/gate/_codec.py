"""JSON objects from the gate's dataclasses and back, driven by their fields.

Most of what the gate stores (results, baseline, verdict) is a dataclass's fields under
their own names. `to_json` writes such an object; `from_json` reads a dataclass of plain
fields (str, bool, int, float) through `_io.Reader`, so every defect is the one-line error that
names the file, the place and the field. What is not one-to-one (a name kept as the key, a
rule across fields, rounding, a schema version) stays with the format's own module.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from agui_perf.gate._io import Reader

__all__ = ["from_json", "plain", "to_json"]

T = TypeVar("T", bound="DataclassInstance")


def plain(value: object) -> object:
    """`value` as JSON: enums by value, tuples as arrays, mappings key-sorted, dataclasses as
    objects of their fields; anything else as it is."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_json(value)
    if isinstance(value, tuple | list):
        return [plain(item) for item in value]
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in sorted(value.items())}
    return value


def to_json(
    obj: DataclassInstance, *, skip: Collection[str] = (), **extra: object
) -> dict[str, object]:
    """The dataclass `obj`'s fields as a JSON object, but those in `skip`; `extra` adds keys
    or replaces a field's value (already JSON)."""
    data = {
        item.name: plain(getattr(obj, item.name))
        for item in dataclasses.fields(obj)
        if item.name not in skip and item.name not in extra
    }
    data.update(extra)
    return data


def _read(
    reader: Reader, data: Mapping[str, object], key: str, where: str, kind: str, low: int
) -> object:
    if kind == "str":
        return reader.string(data, key, where)
    if kind == "bool":
        return reader.boolean(data, key, where)
    if kind == "int":
        return reader.integer(data, key, where, minimum=low)
    # A stored float is a measurement or a fraction: finite and non-negative.
    return reader.number(data, key, where)


def from_json(
    cls: type[T],
    reader: Reader,
    data: Mapping[str, object],
    where: str,
    *,
    minimum: Mapping[str, int] | None = None,
    **given: object,
) -> T:
    """A `cls` whose fields are read from `data` in their declared order, by their annotation
    (`minimum`: the least value of an int field, default 0); `given` supplies the others."""
    values = dict(given)
    for item in dataclasses.fields(cls):
        if item.name in values:
            continue
        kind = item.type if isinstance(item.type, str) else getattr(item.type, "__name__", "")
        if kind not in ("str", "bool", "int", "float"):
            raise TypeError(f"{cls.__name__}.{item.name}: no JSON reader for {kind!r}; pass it")
        low = (minimum or {}).get(item.name, 0)
        values[item.name] = _read(reader, data, item.name, where, kind, low)
    build: Callable[..., T] = cls
    return build(**values)
