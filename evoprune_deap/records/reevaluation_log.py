"""``reevaluation.csv``: the final re-evaluation, one row per candidate mask, appended and fsynced as each
finishes (the journal a resumed run reads, so finished candidates are never trained again).

Its format lives here only. The ``chosen`` column is empty while the re-evaluation runs; the run fills it
(:func:`write_reevaluations`, atomically) once every candidate is scored.
"""

from __future__ import annotations

import csv
import io
import math
import os

import numpy as np

from ..errors import RunDirectoryError
from ..search.bits import mask_from_hex, mask_hash, mask_to_hex
from ..storage import write_text

COLUMNS = (
    "candidate",
    "mask_hash",
    "n_active",
    "logged_fitness",
    "fresh_mean",
    "fresh_sd",
    "final_repeats",
    "chosen",
    "fresh_scores",
    "epochs",
    "mask",
)
"""``candidate`` counts from 1 in order of logged fitness (then fewer active bits); ``fresh_scores``
are the ``final_repeats`` fresh fitness values, space-separated; ``fresh_sd`` their standard deviation
(empty for one); ``epochs`` the epochs all their trainings took."""


def candidate_row(number: int, mask, logged_fitness: float, fresh: list[float], epochs: int) -> dict:
    """The row of candidate ``number`` (from 1): its logged fitness and its fresh scores."""
    return {
        "candidate": number,
        "mask_hash": mask_hash(mask),
        "n_active": int(mask.sum()),
        "logged_fitness": repr(float(logged_fitness)),
        "fresh_mean": repr(float(np.mean(fresh))),
        "fresh_sd": repr(float(np.std(fresh, ddof=1))) if len(fresh) > 1 else "",
        "final_repeats": len(fresh),
        "chosen": "",
        "fresh_scores": " ".join(repr(float(value)) for value in fresh),
        "epochs": int(epochs),
        "mask": mask_to_hex(mask),
    }


def _line(row: dict) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([row.get(column, "") for column in COLUMNS])
    return buffer.getvalue()


def append_candidate(path: str, row: dict) -> None:
    """Append one row (the header first, for a new file) in one write, flushed and fsynced."""
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    text = (_line(dict(zip(COLUMNS, COLUMNS))) if new else "") + _line(row)
    try:
        with open(path, "a", newline="") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    except OSError as exc:
        raise RunDirectoryError(f"Cannot write {path!r} ({exc}); fix it, then resume the run.") from exc


def read_candidates(path: str) -> list[dict]:
    """The whole rows of ``path`` (none if it is missing), in order; a torn last row (a kill mid-write) is
    dropped and the file cut back to the whole rows, so appending can continue. ``mask`` comes back as a
    bool ndarray, the scores as floats.

    Raises
    ------
    RunDirectoryError
        The header is not this file's, or a row other than the last is damaged.
    """
    if not os.path.exists(path):
        return []
    with open(path, "rb") as stream:
        data = stream.read()
    lines = data.split(b"\n")
    complete = lines[:-1]  # the last piece has no newline: empty, or a torn row
    if not complete:
        return []
    if tuple(next(csv.reader([complete[0].decode(errors="replace")]), ())) != COLUMNS:
        raise RunDirectoryError(f"{path!r} does not start with the re-evaluation header; it was edited?")
    rows, good_bytes = [], len(complete[0]) + 1
    for number, line in enumerate(complete[1:], start=2):
        try:
            rows.append(_parse(line.decode(), expected=len(rows) + 1))
        except (ValueError, StopIteration, UnicodeDecodeError) as exc:
            if number == len(complete):
                break
            raise RunDirectoryError(f"{path!r} line {number} is damaged ({exc}); it was edited?") from exc
        good_bytes += len(line) + 1
    if good_bytes != len(data):
        with open(path, "r+b") as stream:
            stream.truncate(good_bytes)
            stream.flush()
            os.fsync(stream.fileno())
    return rows


def _parse(line: str, expected: int) -> dict:
    row = dict(zip(COLUMNS, next(csv.reader([line])), strict=True))
    if int(row["candidate"]) != expected:
        raise ValueError("candidates out of order")
    row["candidate"], row["n_active"], row["epochs"] = (
        int(row["candidate"]),
        int(row["n_active"]),
        int(row["epochs"]),
    )
    row["final_repeats"] = int(row["final_repeats"])
    row["logged_fitness"], row["fresh_mean"] = float(row["logged_fitness"]), float(row["fresh_mean"])
    row["fresh_sd"] = float(row["fresh_sd"]) if row["fresh_sd"] else math.nan
    row["fresh_scores"] = [float(value) for value in row["fresh_scores"].split()]
    if len(row["fresh_scores"]) != row["final_repeats"]:
        raise ValueError("fresh scores missing")
    row["mask"] = mask_from_hex(row["mask"])
    return row


def write_candidates(path: str, rows: list[dict], chosen: int) -> None:
    """Rewrite ``path`` whole (atomically) with ``chosen`` (a candidate number) marked."""
    lines = [_line(dict(zip(COLUMNS, COLUMNS)))]
    for row in rows:
        shown = {
            **row,
            "logged_fitness": repr(float(row["logged_fitness"])),
            "fresh_mean": repr(float(row["fresh_mean"])),
            "fresh_sd": "" if math.isnan(row["fresh_sd"]) else repr(float(row["fresh_sd"])),
            "fresh_scores": " ".join(repr(float(value)) for value in row["fresh_scores"]),
            "mask": mask_to_hex(row["mask"]),
            "chosen": str(row["candidate"] == chosen),
        }
        lines.append(_line(shown))
    write_text(path, "".join(lines))
