"""The evaluations log: one CSV row per new evaluation, appended and fsynced as it finishes.

Its format lives here only: the columns, how a row is written, how a log is
read back (repairing a row torn by a kill), and how its rows become the
known results a resumed run replays; and its two writers, the GA's callback that appends each evaluation in
budget order (:class:`EvaluationWriter`, ``evaluations.csv``) and the journal of results in the order they
finish (:class:`FinishedJournal`, ``finished.csv``).

Each row ends with ``check``, a hash chain: the SHA-256 of the previous row's check and this row's
fields (the header's line starts the chain), first 16 hex digits. A resume replays logged fitness
values instead of retraining, so a value changed by hand would be trusted: :func:`read_log` refuses a
row whose check does not match, naming the file and the row. Logs written before the chain (no
``check`` column) are read as they were, unverified: their runs stay resumable.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import io
import os
import shlex
import threading

from ..errors import RunDirectoryError
from ..search.bits import mask_from_hex, mask_hash, mask_key, mask_to_hex
from ..search.callbacks import Callback, split_result

COLUMNS = (
    "evaluation",
    "mask_hash",
    "n_active",
    "active_percent",
    "fitness",
    "val_accuracy",
    "epochs",
    "seconds",
    "mask",
)
OOD_COLUMNS = (*COLUMNS[:-1], "ood_auroc", "mask")
"""The columns of a run with out-of-distribution images: each head's validation AUROC too."""


CHECK = "check"
"""The last column: the row's link of the log's hash chain (see the module's docstring)."""


def columns_for(with_ood: bool = False, with_spread: bool = False, checked: bool = True) -> tuple:
    """The log's columns: with each head's validation OOD AUROC, and with each mask's ``spread`` (the
    standard deviation of its fitness over repeats or folds) where the fitness has several trainings;
    the chain's ``check`` last (``checked=False``: a log written before it)."""
    extra = ("ood_auroc",) * with_ood + ("spread",) * with_spread
    return (*COLUMNS[:-1], *extra, "mask", *(CHECK,) * checked)


WHERE = ("worker", "pid", "started", "ended", "error")
"""``finished.csv`` only: where each evaluation ran (the Dask worker's address, or ``local``, and the
process id), when (unix seconds), and a failed evaluation's exception (its fitness is then nan)."""


def journal_columns(columns: tuple) -> tuple:
    """The columns of ``finished.csv``: a log's, with :data:`WHERE` before the mask."""
    checked = columns[-1] == CHECK
    columns = columns[:-1] if checked else columns
    return (*columns[:-1], *WHERE, "mask", *(CHECK,) * checked)


LAYOUTS = tuple(
    layout(columns_for(ood, spread, checked))
    for ood in (False, True)
    for spread in (False, True)
    for checked in (True, False)
    for layout in (tuple, journal_columns)
)


def _link(previous: str, fields: list) -> str:
    """The chain's check of a row: its fields after the previous row's check."""
    text = previous + "\n" + _csv_line([str(field) for field in fields])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _csv_line(values) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def log_row(number: int, mask, fitness: float, info: dict) -> dict:
    """One row of an evaluations log (``number`` counts from 1)."""
    n_active = int(mask.sum())
    return {
        "evaluation": number,
        "mask_hash": mask_hash(mask),
        "n_active": n_active,
        "active_percent": round(100.0 * n_active / mask.shape[0], 4),
        "fitness": repr(float(fitness)),
        "val_accuracy": repr(info["val_accuracy"]) if "val_accuracy" in info else "",
        "epochs": info.get("epochs", ""),
        "seconds": round(info.get("seconds", 0.0), 4),
        "ood_auroc": repr(info["ood_auroc"]) if info.get("ood_auroc") is not None else "",
        "spread": repr(info["spread"]) if info.get("spread") is not None else "",
        "worker": info.get("worker", ""),
        "pid": info.get("pid", ""),
        "started": f"{info['started']:.3f}" if "started" in info else "",
        "ended": f"{info['ended']:.3f}" if "ended" in info else "",
        "error": info.get("error", ""),
        "mask": mask_to_hex(mask),
    }


def failure_row(number: int, mask, exc: BaseException) -> dict:
    """The ``finished.csv`` row of an evaluation that raised: nan fitness, the exception."""
    return log_row(number, mask, float("nan"), {"error": f"{type(exc).__name__}: {exc}"[:500]})


class EvaluationLog:
    """Append-only CSV of evaluations; each row is flushed and fsynced at once.

    A row is written with one ``write`` call and ends with a newline, so after
    a kill the file holds whole rows plus at most one partial last line, which
    :func:`read_log` drops. ``columns`` (:data:`COLUMNS` or :data:`OOD_COLUMNS`)
    are those of a new file; an existing one keeps its own.
    """

    def __init__(self, path: str, columns: tuple = COLUMNS):
        self.path = path
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self.columns = columns if new else _header(path)
        self._last = "" if new else _last_check(path, self.columns)
        self._stream = open(path, "a", newline="")
        if new:
            self._write(self.columns)
            self._last = _link("", list(self.columns))

    def _write(self, row) -> None:
        try:
            self._stream.write(_csv_line(row))
            self._stream.flush()
            os.fsync(self._stream.fileno())
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise RunDirectoryError(
                    f"Disk full while writing {self.path!r}; free some space, then continue with "
                    f"`evoprune run --resume {shlex.quote(os.path.dirname(self.path))}` "
                    "(finished evaluations are kept)."
                ) from exc
            raise RunDirectoryError(f"Cannot write {self.path!r} ({exc}); fix it, then resume.") from exc

    def append(self, row: dict) -> None:
        fields = [row.get(column, "") for column in self.columns if column != CHECK]
        if self.columns[-1] == CHECK:
            self._last = _link(self._last, fields)
            fields.append(self._last)
        self._write(fields)

    def close(self) -> None:
        self._stream.close()


def read_log(path: str) -> list[dict]:
    """Read the whole rows of an evaluations log, repairing a torn last line.

    A last line without its newline, or with missing or unparsable fields, is
    the trace of a kill mid-write: it is dropped and the file truncated to
    the whole rows, so appending can continue. ``fitness`` comes back as a
    float and ``mask`` as a bool ndarray.

    Raises
    ------
    RunDirectoryError
        If a row other than the last is damaged (the file was edited).
    """
    rows, good_bytes, data = _read(path)
    if tail_bytes := len(data) - good_bytes:
        with open(path, "r+b") as stream:
            stream.truncate(len(data) - tail_bytes)
            stream.flush()
            os.fsync(stream.fileno())
    return rows


def read_rows(path: str) -> list[dict]:
    """The whole, verified rows of a log, as :func:`read_log` reads them, changing nothing on disk (a
    torn last line is left as it is): what a resume would replay, checked before it starts."""
    return _read(path)[0]


def _read(path: str) -> tuple[list[dict], int, bytes]:
    """(rows, bytes of the whole rows, the file's bytes); RunDirectoryError for a damaged or changed row."""
    with open(path, "rb") as stream:
        data = stream.read()
    lines = data.split(b"\n")
    complete = lines[:-1]
    if not complete:
        return [], 0, data
    columns = _check_header(path, complete[0])
    checked = columns[-1] == CHECK
    rows, good_bytes, last = [], len(complete[0]) + 1, _link("", list(columns))
    for number, line in enumerate(complete[1:], start=2):
        try:
            row = _parse(line, columns, expected=len(rows) + 1)
        except (ValueError, StopIteration, UnicodeDecodeError) as exc:
            if number == len(complete):  # torn final row (newline written, fields not all there)
                break
            raise RunDirectoryError(
                f"{path!r} line {number} is damaged ({exc}); it was edited by hand? Restore the file, "
                "or start the run again in a new directory."
            ) from exc
        if checked:
            last = _link(last, next(csv.reader([line.decode()]))[:-1])
            if row[CHECK] != last:
                raise RunDirectoryError(
                    f"{path!r} row {len(rows) + 1} (line {number}) does not match its check: the log was "
                    "changed after it was written, and a resume would replay the changed values; restore "
                    "the file, or start the run again in a new directory."
                )
        rows.append(row)
        good_bytes += len(line) + 1
    return rows, good_bytes, data


def _last_check(path: str, columns: tuple) -> str:
    """The chain's last link of an existing log (its header's, with no rows): where appending goes on."""
    rows = read_rows(path)
    if columns[-1] != CHECK:
        return ""
    return rows[-1][CHECK] if rows else _link("", list(columns))


def _check_header(path: str, line: bytes) -> tuple:
    header = tuple(next(csv.reader([line.decode(errors="replace")]), ()))
    if header not in LAYOUTS:
        raise RunDirectoryError(f"{path!r} does not start with the evaluations header; it is not a run log.")
    return header


def _header(path: str) -> tuple:
    with open(path, "rb") as stream:
        return _check_header(path, stream.readline().rstrip(b"\n"))


def _parse(line: bytes, columns: tuple, expected: int) -> dict:
    values = next(csv.reader([line.decode()]))
    row = dict(zip(columns, values, strict=True))
    row["fitness"] = float(row["fitness"])
    row["mask"] = mask_from_hex(row["mask"])
    if int(row["evaluation"]) != expected:
        raise ValueError("evaluation numbers out of order")
    return row


def known_results(rows: list[dict]) -> dict:
    """``mask_key -> (fitness, info)`` from the rows of an evaluations log."""
    known = {}
    for row in rows:
        if row.get("error"):  # a failed evaluation: nothing to replay
            continue
        info = {"epochs": int(row["epochs"]) if row["epochs"] else "", "seconds": float(row["seconds"] or 0)}
        if row["val_accuracy"]:
            info["val_accuracy"] = float(row["val_accuracy"])
        for name in ("ood_auroc", "spread"):
            if row.get(name):
                info[name] = float(row[name])
        known[mask_key(row["mask"])] = (row["fitness"], info)
    return known


class EvaluationWriter(Callback):
    """Appends each evaluation after the first ``n_logged`` to the run's log (flushed and fsynced).

    On resume the first ``n_logged`` evaluations replay the log's own rows;
    later ones are new, or replayed from the journal, and are written.
    """

    def __init__(self, log: EvaluationLog, n_logged: int = 0):
        self.log, self.n_logged = log, n_logged

    def on_evaluation(self, evaluation, state):
        if evaluation.index >= self.n_logged:
            self.log.append(
                log_row(evaluation.index + 1, evaluation.mask, evaluation.fitness, evaluation.info)
            )


class FinishedJournal:
    """``finished.csv``: every result from the workers, in the order they finish.

    The columns of ``evaluations.csv`` and where and when each ran (worker,
    pid, start, end; :data:`~evoprune_deap.records.evaluation_log.WHERE`), with
    a row holding the exception for an evaluation that failed; numbered in finishing order; called
    from the cluster client's helper thread, so appends are serialised. The
    file is opened at the first result.
    """

    def __init__(self, path: str, n_existing: int, columns: tuple):
        self.path, self.log, self.count, self.closed, self.columns = path, None, n_existing, False, columns
        self._lock = threading.Lock()

    def __call__(self, mask, result) -> None:
        """Journal one result, or (``result`` an exception) one failed evaluation."""
        with self._lock:
            if self.closed:  # a late callback: the run has already logged or abandoned this result
                return
            self.log = self.log or EvaluationLog(self.path, self.columns)
            self.count += 1
            if isinstance(result, BaseException):
                self.log.append(failure_row(self.count, mask, result))
            else:
                fitness, info, _ = split_result(result)
                self.log.append(log_row(self.count, mask, fitness, info))

    def close(self) -> None:
        with self._lock:
            self.closed = True
            if self.log is not None:
                self.log.close()
