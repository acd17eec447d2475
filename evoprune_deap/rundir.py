"""The run directory: atomic JSON/text writes, an append-only evaluations log,
and the record of the environment a run used."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import os
import platform
import subprocess
import tempfile

from .errors import RunDirectoryError

EVALUATION_COLUMNS = ("evaluation", "mask_hash", "n_active", "active_percent", "fitness",
                      "val_accuracy", "epochs", "seconds", "mask")
PACKAGES = ("numpy", "pandas", "keras", "jax", "tensorflow-cpu", "deap", "matplotlib", "evoprune-deap")


def prepare(path: str) -> str:
    """Create an empty run directory, or raise RunDirectoryError."""
    if os.path.isdir(path) and os.listdir(path):
        raise RunDirectoryError(
            f"Run directory {path!r} already holds files; pass another --out, or remove it."
        )
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write-test")
        with open(probe, "w") as stream:
            stream.write("ok")
        os.unlink(probe)
    except OSError as exc:
        raise RunDirectoryError(f"Cannot write to run directory {path!r} ({exc.strerror}); "
                                "choose a writable --out.") from exc
    return path


def write_text(path: str, text: str) -> None:
    """Write a whole file atomically (temp file, fsync, rename)."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class EvaluationLog:
    """Append-only CSV of evaluations; each row is flushed and fsynced at once."""

    def __init__(self, path: str):
        self.path = path
        new = not os.path.exists(path)
        self._stream = open(path, "a", newline="")
        if new:
            self._write(EVALUATION_COLUMNS)

    def _write(self, row) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(row)
        self._stream.write(buffer.getvalue())
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def append(self, values: dict) -> None:
        self._write([values.get(column, "") for column in EVALUATION_COLUMNS])

    def close(self) -> None:
        self._stream.close()


def environment(seed: int) -> dict:
    """Seed, package versions, backend, platform and git commit of this run."""
    import keras

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "seed": seed,
        "keras_backend": keras.backend.backend(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "packages": versions,
        "git_commit": commit,
    }
