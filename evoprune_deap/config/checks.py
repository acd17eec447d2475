"""The checks behind every config error: one value, a table's keys and types, objectives, a head's depth.

Each error names the key, the value received and what would be valid (:class:`ConfigError`).
"""

from __future__ import annotations

import dataclasses
import typing

from ..errors import ConfigError
from .limits import OBJECTIVES, PATH_FIELDS


def check(condition: bool, name: str, value, expected: str) -> None:
    """Raise :class:`ConfigError` for ``name=value`` unless ``condition``; ``expected`` says what is valid."""
    if not condition:
        raise ConfigError(f"Invalid value for `{name}`: expected {expected}. Received: {name}={value!r}.")


def is_int(value) -> bool:
    """An integer, and not a bool (TOML's ``true`` is no population)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An integer or a float, and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def names_a_path(name: str, value) -> bool:
    """Whether [data] ``name`` holds a file or folder (``weights = "imagenet"`` or ``"none"`` do not)."""
    return (
        name in PATH_FIELDS
        and isinstance(value, str)
        and bool(value.strip())
        and not (name == "weights" and value in ("imagenet", "none"))
    )


def check_objectives(names) -> tuple | None:
    """A list of objective names (or ``"a,b"``) in canonical order; None (absent) is the single-objective GA.

    Raises
    ------
    ConfigError
        Unknown or repeated names, one objective only, no accuracy.
    """
    if names is None:
        return None
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    names = list(names)
    if not names or len(set(names)) != len(names) or any(name not in OBJECTIVES for name in names):
        raise ConfigError(
            f"Invalid value for `objectives`: expected distinct names among {', '.join(OBJECTIVES)}, "
            f"e.g. accuracy,active. Received: objectives={','.join(map(str, names))!r}."
        )
    if len(names) == 1:
        raise ConfigError(
            f"objectives={names[0]!r} is one objective; a Pareto front needs two or more, e.g. "
            "accuracy,active (leave objectives out for the single-objective GA)."
        )
    if "accuracy" not in names:
        raise ConfigError(
            f"objectives={','.join(names)!r} leave out accuracy; a pruned head must be scored on "
            "its accuracy: use accuracy,active or accuracy,active,ood."
        )
    return tuple(name for name in OBJECTIVES if name in names)


def check_encoding_depth(encoding: str, hidden_units: tuple, error: type = ConfigError) -> None:
    """``fc2`` and ``both`` switch off units of a second hidden layer, so the head needs one."""
    if encoding in ("fc2", "both") and len(hidden_units) < 2:
        raise error(
            f"Encoding {encoding!r} needs two hidden layers; got hidden_units = "
            f"{list(hidden_units)}. Set [head] hidden_units = [512, 512]."
        )


_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", tuple: "a list"}


def check_types(name: str, cls, table: dict) -> None:
    """Every key of the table ``[name]`` is a field of ``cls`` and its value of the field's type."""
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    for key, value in table.items():
        if key not in valid:
            raise ConfigError(f"Unknown key `{key}` in [{name}]; valid keys: {', '.join(valid)}.")
        allowed = typing.get_args(hints[key]) or (hints[key],)
        if value is None and type(None) in allowed:
            continue
        ok = any(
            (t is float and is_number(value))
            or (t is int and is_int(value))
            or (t is tuple and isinstance(value, (list, tuple)))
            or (t in (str, bool) and isinstance(value, t))
            for t in allowed
        )
        if not ok:
            expected = " or ".join(_TYPES.get(t, "nothing") for t in allowed if t is not type(None))
            raise ConfigError(
                f"Invalid type for `{key}` in [{name}]: expected {expected}. Received: {key}={value!r}."
            )
