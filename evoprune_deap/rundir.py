"""The run directory: atomic JSON/text writes, an append-only evaluations log,
and the record of the environment a run used."""

from __future__ import annotations

import csv
import errno
import fcntl
import importlib.metadata
import io
import json
import os
import platform
import subprocess

from .atomic import atomic_write
from .errors import RunDirectoryError

EVALUATION_COLUMNS = ("evaluation", "mask_hash", "n_active", "active_percent", "fitness",
                      "val_accuracy", "epochs", "seconds", "mask")
PACKAGES = ("numpy", "pandas", "keras", "jax", "tensorflow-cpu", "deap", "matplotlib", "evoprune-deap")


def prepare(path: str) -> str:
    """Create an empty run directory, or raise RunDirectoryError."""
    if os.path.isdir(path) and os.listdir(path):
        raise RunDirectoryError(
            f"Run directory {path!r} already holds files; continue it with `evoprune run --resume "
            f"{path}`, or pass another --out."
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
    atomic_write(path, lambda stream: stream.write(text))


def write_json(path: str, data) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class RunLock:
    """An exclusive lock on a run directory, released by the OS when its owner dies.

    Raises
    ------
    RunDirectoryError
        If another live process holds the lock.
    """

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, ".lock")
        self._stream = open(self.path, "a+")
        try:
            fcntl.flock(self._stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._stream.seek(0)
            owner = self._stream.read().strip() or "unknown"
            self._stream.close()
            raise RunDirectoryError(
                f"Run directory {run_dir!r} is in use by another process (pid {owner}); wait for it "
                "to finish or stop it, then resume with `evoprune run --resume`."
            ) from None
        self._stream.seek(0)
        self._stream.truncate()
        self._stream.write(str(os.getpid()))
        self._stream.flush()

    def release(self) -> None:
        if not self._stream.closed:
            fcntl.flock(self._stream.fileno(), fcntl.LOCK_UN)
            self._stream.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.release()


class EvaluationLog:
    """Append-only CSV of evaluations; each row is flushed and fsynced at once.

    A row is written with one ``write`` call and ends with a newline, so after
    a kill the file holds whole rows plus at most one partial last line, which
    :func:`read_evaluation_log` drops.
    """

    def __init__(self, path: str):
        self.path = path
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._stream = open(path, "a", newline="")
        if new:
            self._write(EVALUATION_COLUMNS)

    def _write(self, row) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(row)
        try:
            self._stream.write(buffer.getvalue())
            self._stream.flush()
            os.fsync(self._stream.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise RunDirectoryError(
                    f"Disk full while writing {self.path!r}; free some space, then continue with "
                    f"`evoprune run --resume {os.path.dirname(self.path)}` (finished evaluations are kept)."
                ) from exc
            raise RunDirectoryError(f"Cannot write {self.path!r} ({exc}); fix it, then resume.") from exc

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


def read_evaluation_log(path: str) -> list[dict]:
    """Read the whole rows of an evaluations log, repairing a torn last line.

    A last line without its newline, or with missing or unparsable fields, is
    the trace of a kill mid-write: it is dropped and the file truncated to
    the whole rows, so appending can continue.

    Raises
    ------
    RunDirectoryError
        If a row other than the last is damaged (the file was edited).
    """
    from .encodings import mask_from_hex

    with open(path, "rb") as stream:
        data = stream.read()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    if not complete:
        return []
    header = next(csv.reader([complete[0].decode()]))
    if tuple(header) != EVALUATION_COLUMNS:
        raise RunDirectoryError(f"{path!r} does not start with the evaluations header; it is not a run log.")
    rows, good_bytes = [], len(complete[0]) + 1
    for number, line in enumerate(complete[1:], start=2):
        try:
            values = next(csv.reader([line.decode()]))
            row = dict(zip(EVALUATION_COLUMNS, values, strict=True))
            row["fitness"] = float(row["fitness"])
            row["mask"] = mask_from_hex(row["mask"])
            if int(row["evaluation"]) != len(rows) + 1:
                raise ValueError("evaluation numbers out of order")
        except (ValueError, StopIteration, UnicodeDecodeError) as exc:
            if number == len(complete):  # torn final row (newline written, fields not all there)
                break
            raise RunDirectoryError(f"{path!r} line {number} is damaged ({exc}); it was edited by hand?") from exc
        rows.append(row)
        good_bytes += len(line) + 1
    if tail or good_bytes != len(data):
        with open(path, "r+b") as stream:
            stream.truncate(good_bytes)
            stream.flush()
            os.fsync(stream.fileno())
    return rows
