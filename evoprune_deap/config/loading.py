"""A config from a preset, a TOML file and overrides; a config written back as TOML."""

from __future__ import annotations

import os

import tomllib

from ..errors import ConfigError
from .checks import names_a_path
from .experiment import ExperimentConfig, from_dict, merge
from .limits import PATH_FIELDS
from .presets import PRESETS


def load_config(
    path: str | None = None, preset: str | None = "quick", overrides: dict | None = None
) -> ExperimentConfig:
    """Resolve a config: preset defaults, then the TOML file, then ``overrides``.

    ``preset=None``: the dataclasses' defaults alone, for a run's own ``config.toml`` (which leaves out
    only the keys whose value is None, such as the paper preset's unset ``[ga] evaluations``).

    Raises
    ------
    ConfigError
        Unknown preset, unreadable or invalid TOML, unknown keys, bad values.
    """
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"Unknown preset {preset!r}; choose one of {', '.join(PRESETS)}.")
    tables, from_file = merge({}, PRESETS[preset] if preset else {}), {}
    if path is not None:
        from_file = _read_toml(path)
        _resolve_paths(from_file, os.path.dirname(os.path.abspath(path)))
    tables = merge(merge(tables, from_file), overrides or {})
    if tables["ga"].get("objectives") and "reevaluate" not in merge(from_file, overrides or {})["fitness"]:
        tables["fitness"].pop("reevaluate", None)  # the preset's re-evaluation is single-objective
    return from_dict(tables)


def _read_toml(path: str) -> dict:
    """The tables of a TOML file; a missing, unreadable or invalid file is a :class:`ConfigError`."""
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path!r} does not exist; pass an existing TOML file.") from exc
    except IsADirectoryError as exc:
        raise ConfigError(
            f"Config file {path!r} is a folder; pass a TOML file (e.g. --config run.toml)."
        ) from exc
    except PermissionError as exc:
        raise ConfigError(
            f"Config file {path!r} cannot be read (permission denied); fix its permissions."
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Config file {path!r} is not valid TOML: {exc}.") from exc


def _resolve_paths(tables: dict, folder: str) -> None:
    """A TOML file's relative ``[data]`` paths name files beside it, from whatever folder it is used."""
    data = tables.get("data")
    for name in PATH_FIELDS if isinstance(data, dict) else ():
        value = data.get(name)
        if names_a_path(name, value):
            data[name] = os.path.join(folder, os.path.expanduser(value))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dump_toml(config: ExperimentConfig) -> str:
    """Write a config as TOML; ``None`` values are left out (they are the defaults)."""
    lines = []
    for name, table in config.to_dict().items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items() if value is not None)
        lines.append("")
    return "\n".join(lines)
