"""JSON values of the admin socket: dataclasses, tuples and enums out, typed values back in.

:func:`to_json` turns a snapshot (or any frozen dataclass of JSON-able
fields) into JSON data; :func:`from_json` reads it back by the declared field
types (``typing.get_type_hints``), so tuples, unions, nested snapshots and
enums round-trip exactly, and a value that does not fit is a
:class:`DecodeError` naming the place (``ip_filter.include[0]``).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import types
import typing
from typing import Any, TypeVar, cast

__all__ = ["DecodeError", "from_json", "json_kind", "to_json"]

_T = TypeVar("_T")


class DecodeError(ValueError):
    """A JSON value that does not fit the declared type; ``path`` says where."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


def to_json(value: object) -> Any:
    """``value`` as JSON data: dataclasses as objects, tuples as arrays, enums by name."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, int | float):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, tuple | list):
        return [to_json(item) for item in value]
    raise TypeError(f"{type(value).__name__} values do not travel over the admin socket")


def from_json(tp: type[_T], data: object) -> _T:
    """``data`` read back as a ``tp`` (:class:`DecodeError` naming the place when it is not)."""
    return cast(_T, _decode(tp, data, ""))


def _decode(tp: object, data: object, path: str) -> object:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return _decode_union(typing.get_args(tp), data, path)
    if origin is tuple or origin is list:
        return _decode_sequence(tp, data, path)
    if tp is type(None):
        if data is not None:
            raise DecodeError(path, f"expected null, got {json_kind(data)}")
        return None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        if not isinstance(data, str) or data not in tp.__members__:
            names = ", ".join(tp.__members__)
            raise DecodeError(path, f"expected one of {names}, got {json.dumps(data)[:40]}")
        return tp[data]
    return _decode_scalar(tp, data, path)


_SCALARS: dict[object, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    float: (int, float),
    str: (str,),
}
"""The JSON value types each scalar field type accepts (exactly: a bool is no int)."""


def _decode_scalar(tp: object, data: object, path: str) -> object:
    accepted = _SCALARS.get(tp)
    if accepted is None:
        raise TypeError(f"{tp!r} values do not travel over the admin socket")
    if type(data) not in accepted:
        raise DecodeError(path, f"expected {_type_name(tp)}, got {json_kind(data)}")
    if tp is float:
        try:
            return float(cast(float, data))
        except OverflowError:  # an integer of more than 308 digits
            raise DecodeError(path, "number out of range") from None
    return data


def _decode_union(arms: tuple[object, ...], data: object, path: str) -> object:
    if data is None and type(None) in arms:
        return None
    errors = []
    for arm in arms:
        if arm is type(None):
            continue
        try:
            return _decode(arm, data, path)
        except DecodeError as err:
            errors.append(err)
    if len(errors) == 1 and errors[0].path != path:
        raise errors[0]
    wanted = " or ".join(_type_name(arm) for arm in arms)
    raise DecodeError(path, f"expected {wanted}, got {json_kind(data)}")


def _decode_sequence(tp: object, data: object, path: str) -> object:
    if not isinstance(data, list):
        raise DecodeError(path, f"expected an array, got {json_kind(data)}")
    args = typing.get_args(tp)
    if typing.get_origin(tp) is list:
        return [_decode(args[0], item, f"{path}[{n}]") for n, item in enumerate(data)]
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], item, f"{path}[{n}]") for n, item in enumerate(data))
    if len(data) != len(args):
        raise DecodeError(path, f"expected {len(args)} items, got {len(data)}")
    pairs = enumerate(zip(args, data, strict=True))
    return tuple(_decode(arg, item, f"{path}[{n}]") for n, (arg, item) in pairs)


@functools.cache
def _fields(cls: type) -> tuple[dict[str, object], frozenset[str]]:
    """The field types of dataclass ``cls`` and the names of the fields without a default."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    required = frozenset(
        field.name
        for field in fields
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    )
    return {field.name: hints[field.name] for field in fields}, required


def _decode_dataclass(cls: type, data: object, path: str) -> object:
    if not isinstance(data, dict):
        raise DecodeError(path, f"expected an object ({cls.__name__}), got {json_kind(data)}")
    hints, required = _fields(cls)
    prefix = f"{path}." if path else ""
    missing = sorted(required - set(data))
    if missing:
        raise DecodeError(prefix + missing[0], "missing")
    unexpected = sorted(set(data) - set(hints))
    if unexpected:
        raise DecodeError(prefix + unexpected[0], f"unexpected ({cls.__name__} has no such field)")
    values = {name: _decode(hints[name], value, prefix + name) for name, value in data.items()}
    return cls(**values)


def _type_name(tp: object) -> str:
    if tp is type(None):
        return "null"
    if typing.get_origin(tp) in (tuple, list):
        return "array"
    return getattr(tp, "__name__", str(tp))


def json_kind(value: object) -> str:
    kinds = {dict: "object", list: "array", str: "str", bool: "bool", int: "int", float: "float"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)
