"""Where evoprune-deap keeps files, and how it writes them: atomically (temp file, fsync, rename)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Callable, IO


def cache_dir(*parts: str) -> str:
    """``$EVOPRUNE_CACHE_DIR`` (default ``~/.cache/evoprune-deap``) joined with ``parts``."""
    root = os.environ.get("EVOPRUNE_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "evoprune-deap")
    return os.path.join(root, *parts)


def atomic_write(path: str, write: Callable[[IO], None], binary: bool = False) -> None:
    """Call ``write(stream)`` on a temp file, fsync it, then rename it over ``path``.

    A reader sees the old file or the whole new one, never a part.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(handle, "wb" if binary else "w") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: str, text: str) -> None:
    """Write a whole text file atomically."""
    atomic_write(path, lambda stream: stream.write(text))


def write_json(path: str, data) -> None:
    """Write JSON atomically (sorted keys; numpy scalars and arrays as plain values)."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
