"""Where evoprune-deap keeps files, and how it writes them: atomically (temp file, fsync, rename)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import IO, Callable

from .errors import OutputError


def cache_root() -> str:
    """``$EVOPRUNE_CACHE_DIR``, default ``~/.cache/evoprune-deap``."""
    return os.environ.get("EVOPRUNE_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "evoprune-deap"
    )


def cache_dir(*parts: str) -> str:
    """The cache folder (:func:`cache_root`) joined with ``parts``."""
    return os.path.join(cache_root(), *parts)


def check_folder(path: str, what: str) -> None:
    """Raise OutputError unless ``path`` is, or can be made, a writable folder (nothing is created).

    ``what`` names the path in the message (e.g. ``"--out"``).
    """
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.exists(path) and not os.path.isdir(path):
        raise OutputError(f"{what} {path!r} is a file, not a folder; pass a folder (it is made if missing).")
    _check_ancestor(path, path, what)


def check_file(path: str, what: str) -> None:
    """Raise OutputError unless the file ``path`` can be written (its folder writable, it is not a folder)."""
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        raise OutputError(f"{what} {path!r} is a folder; pass a file name.")
    _check_ancestor(os.path.dirname(path), path, what)


def _check_ancestor(folder: str, path: str, what: str) -> None:
    existing = folder
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OutputError(
            f"{what} {path!r} lies inside {existing!r}, which is a file; pass a path in a folder."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path!r}: {existing!r} is not writable; pass a folder you can write to.")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: os.umask can only be read by setting it


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
        os.chmod(tmp, 0o666 & ~_UMASK)  # as a plain open() would make it (mkstemp's are 0600)
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
