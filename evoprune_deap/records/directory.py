"""The run directory: the one owner of its file names, readers and writers.

``runs/<source>_<encoding>_seed<seed>/`` holds:

- ``config.toml`` (the resolved configuration), ``environment.json`` (seed,
  package versions, Keras backend, git commit, feature-cache metadata);
- ``evaluations.csv`` (one row per new evaluation, appended and fsynced, see
  :mod:`evoprune_deap.records.evaluation_log`) and ``finished.csv`` (the same
  rows in the order worker processes finished them, a journal for resume);
- ``logbook.json`` (the DEAP Logbook), ``best_mask.json``, ``best_head.keras``,
  ``summary.json`` (:class:`~evoprune_deap.records.summary.RunSummary`),
  ``unpruned_head.npz`` (the weights of the run's one unpruned reference, one head per fold),
  ``convergence.png``; after a campaign, ``baselines.csv``;
- with ``[fitness] reevaluate``, ``reevaluation.csv`` (the final re-evaluation, one row per candidate,
  see :mod:`evoprune_deap.records.reevaluation_log`);
- multi-objective runs also: ``front.csv`` (see :mod:`evoprune_deap.compare.front`),
  ``front_baselines.csv``, ``front.png`` and ``hypervolume.png``.
"""

from __future__ import annotations

import fcntl
import functools
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess

import numpy as np

from ..config import ExperimentConfig, dump_toml, load_config
from ..errors import RunDirectoryError
from ..head.weights import load_weights, save_weights
from ..search.bits import mask_from_hex, mask_to_hex
from ..storage import atomic_write, write_json, write_text
from .evaluation_log import read_rows
from .summary import RunSummary

PACKAGES = ("numpy", "pandas", "keras", "jax", "tensorflow-cpu", "deap", "matplotlib", "evoprune-deap")


class RunDirectory:
    """Paths, lock, readers and writers of one run directory."""

    CONFIG = "config.toml"
    ENVIRONMENT = "environment.json"
    EVALUATIONS = "evaluations.csv"
    JOURNAL = "finished.csv"
    LOGBOOK = "logbook.json"
    BEST_MASK = "best_mask.json"
    BEST_HEAD = "best_head.keras"
    UNPRUNED = "unpruned_head.npz"
    SUMMARY = "summary.json"
    CONVERGENCE = "convergence.png"
    BASELINES = "baselines.csv"
    REEVALUATION = "reevaluation.csv"
    FRONT = "front.csv"
    FRONT_BASELINES = "front_baselines.csv"
    FRONT_PLOT = "front.png"
    HYPERVOLUME_PLOT = "hypervolume.png"
    LOCK = ".lock"

    def __init__(self, path: str):
        self.path = str(path)

    def __str__(self) -> str:
        return self.path

    def file(self, name: str) -> str:
        """Path of one of the run's files (a class constant such as ``RunDirectory.SUMMARY``)."""
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        return os.path.exists(self.file(name))

    @property
    def is_started(self) -> bool:
        """A run began here (its config is written): it can be resumed."""
        return self.has(self.CONFIG)

    @property
    def is_finished(self) -> bool:
        return self.has(self.SUMMARY)

    # ------------------------------------------------------------ life cycle
    def create(self) -> "RunDirectory":
        """Create an empty, writable run directory, or raise RunDirectoryError."""
        self.check_new()
        try:
            os.makedirs(self.path, exist_ok=True)
            probe = self.file(".write-test")
            with open(probe, "w") as stream:
                stream.write("ok")
            os.unlink(probe)
        except OSError as exc:
            raise RunDirectoryError(
                f"Cannot write to run directory {self.path!r} ({exc.strerror}); choose a writable --out."
            ) from exc
        return self

    def check_new(self) -> None:
        """Raise RunDirectoryError unless a new run can start here (a missing or empty folder)."""
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise RunDirectoryError(
                f"Run directory {self.path!r} is a file; pass another --run-dir or --out."
            )
        if self.is_finished:
            raise RunDirectoryError(
                f"Run directory {self.path!r} holds a finished run ({self.SUMMARY} exists); pass another "
                "--run-dir or --out, or delete it to run again."
            )
        if os.path.isdir(self.path) and os.listdir(self.path):
            hint = (
                f"continue it with `evoprune run --resume {shlex.quote(self.path)}`"
                if self.is_started
                else "it is not a run directory"
            )
            raise RunDirectoryError(
                f"Run directory {self.path!r} already holds files; {hint}, "
                "or pass another --run-dir or --out."
            )

    def discard_if_unused(self, created: bool) -> None:
        """After a new run failed before logging any evaluation: remove what it wrote (and the folder, if
        ``created``), so the next run can start here; a run with evaluations stays, to be resumed."""
        for name in (self.EVALUATIONS, self.JOURNAL):
            try:
                if self.has(name) and read_rows(self.file(name)):
                    return
            except RunDirectoryError:  # not ours to judge here: kept as it is
                return
        for name in (self.CONFIG, self.ENVIRONMENT, self.EVALUATIONS, self.JOURNAL, self.LOCK):
            if self.has(name):
                os.unlink(self.file(name))
        if created and os.path.isdir(self.path) and not os.listdir(self.path):
            os.rmdir(self.path)

    def lock(self) -> "RunLock":
        """Hold the run exclusively (see :class:`RunLock`)."""
        return RunLock(self.path)

    def not_a_run(self) -> RunDirectoryError:
        """The error for a path without a run, naming the run directories under it (the ``--out`` parent)."""
        if not os.path.isdir(self.path):
            return RunDirectoryError(
                f"Run directory {self.path!r} does not exist; pass the folder a run printed as its "
                "'run directory:' (e.g. runs/elpv_fc1_seed0)."
            )
        runs = sorted(root for root, _dirs, files in os.walk(self.path) if self.CONFIG in files)
        if runs:
            shown = ", ".join(repr(run) for run in runs[:5]) + (
                f" and {len(runs) - 5} more" if len(runs) > 5 else ""
            )
            return RunDirectoryError(
                f"{self.path!r} is not a run directory but holds {len(runs)}: {shown}; pass one of them."
            )
        return RunDirectoryError(
            f"{self.path!r} is not a run directory (no {self.CONFIG}); nothing to resume."
        )

    def check_resumable(self, features_key) -> None:
        """Refuse to resume a finished run, a non-run, or a run on other features (``features_key``; None: not
        checked)."""
        if not self.is_started:
            raise self.not_a_run()
        if self.is_finished:
            raise RunDirectoryError(
                f"Run {self.path!r} already finished ({self.SUMMARY} exists); nothing to resume."
            )
        try:
            recorded = self.read_environment().get("features", {}).get("key")
        except (OSError, ValueError):
            recorded = None
        if features_key is not None and recorded is not None and recorded != features_key:
            raise RunDirectoryError(
                f"The features differ from those run {self.path!r} started with; resume needs the same data."
            )
        for name in (self.EVALUATIONS, self.JOURNAL):  # what a resume replays: changed rows are refused
            if self.has(name):
                read_rows(self.file(name))

    # ------------------------------------------------------------ files
    def write_config(self, config: ExperimentConfig) -> None:
        """``config.toml``, with ``[run] out`` made absolute (the file describes the run from any folder)."""
        config = config.replace(run={"out": os.path.abspath(config.run.out)})
        write_text(self.file(self.CONFIG), dump_toml(config))

    def read_config(self) -> ExperimentConfig:
        if not self.is_started:
            raise self.not_a_run()
        return load_config(self.file(self.CONFIG), preset=None)  # all its own: no preset fills a gap

    def write_environment(self, seed: int, **extra) -> None:
        write_json(self.file(self.ENVIRONMENT), {**environment(seed), **extra})

    def read_environment(self) -> dict:
        with open(self.file(self.ENVIRONMENT)) as stream:
            return json.load(stream)

    def write_logbook(self, logbook) -> None:
        write_json(self.file(self.LOGBOOK), list(logbook))

    def write_best_mask(self, encoding: str, mask: np.ndarray) -> None:
        write_json(
            self.file(self.BEST_MASK),
            {
                "encoding": encoding,
                "n_bits": int(mask.shape[0]),
                "n_active": int(mask.sum()),
                "hex": mask_to_hex(mask),
                "active_indices": np.flatnonzero(mask).tolist(),
            },
        )

    def read_best_mask(self) -> np.ndarray:
        """The best mask, a bool ndarray of shape (n_bits,)."""
        try:
            with open(self.file(self.BEST_MASK)) as stream:
                return mask_from_hex(json.load(stream)["hex"])
        except (OSError, ValueError, KeyError) as exc:
            raise RunDirectoryError(f"Cannot read the best mask of run {self.path!r} ({exc}).") from exc

    def write_unpruned(self, fold_weights) -> None:
        """Save the unpruned reference's trained weights (one head per fold), atomically, as plain arrays."""
        atomic_write(self.file(self.UNPRUNED), lambda stream: save_weights(stream, fold_weights), binary=True)

    def read_unpruned(self) -> tuple:
        """The unpruned reference's weights per fold (:meth:`write_unpruned`)."""
        try:
            return load_weights(self.file(self.UNPRUNED))
        except (OSError, ValueError, KeyError) as exc:
            raise RunDirectoryError(
                f"Cannot read {self.file(self.UNPRUNED)!r} ({exc}); the run's unpruned "
                "reference is missing or damaged: rerun the run."
            ) from exc

    def write_summary(self, summary: RunSummary) -> None:
        write_json(self.file(self.SUMMARY), summary.to_dict())

    def read_summary(self) -> RunSummary:
        path = self.file(self.SUMMARY)
        try:
            with open(path) as stream:
                data = json.load(stream)
        except (OSError, ValueError) as exc:
            raise RunDirectoryError(f"Cannot read {path!r} ({exc}); is the run finished?") from exc
        return RunSummary.from_dict(data, where=path)

    def read_evaluations(self):
        """``evaluations.csv`` as a pandas DataFrame (one row per evaluation)."""
        import pandas as pd

        return pd.read_csv(self.file(self.EVALUATIONS))

    def write_baselines(self, rows: list[dict]) -> None:
        import pandas as pd

        self.write_table(self.BASELINES, pd.DataFrame(rows))

    def write_table(self, name: str, table) -> None:
        """Write a DataFrame as one of the run's CSV files (atomically)."""
        write_text(self.file(name), table.to_csv(index=False))

    def read_front(self):
        """``front.csv`` as a DataFrame, or RunDirectoryError naming what the run is."""
        if not self.is_started:
            raise self.not_a_run()
        if not self.has(self.FRONT):
            what = "not finished" if not self.is_finished else "not multi-objective"
            raise RunDirectoryError(
                f"Run {self.path!r} has no {self.FRONT} ({what}); select and ensemble need a finished "
                "multi-objective run (`evoprune run --objectives accuracy,active`)."
            )
        import pandas as pd

        return pd.read_csv(self.file(self.FRONT))

    def read_baselines(self):
        """``baselines.csv`` as a DataFrame, or None if the run has none."""
        import pandas as pd

        return pd.read_csv(self.file(self.BASELINES)) if self.has(self.BASELINES) else None


class RunLock:
    """An exclusive lock on a run directory, released by the OS when its owner dies.

    Raises
    ------
    RunDirectoryError
        If another live process holds the lock.
    """

    def __init__(self, run_dir: str):
        self.path = os.path.join(run_dir, RunDirectory.LOCK)
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


@functools.cache
def _installed() -> tuple[dict, str | None]:
    """Package versions and the git commit of this code: read once per process."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    try:
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                cwd=os.path.dirname(os.path.abspath(__file__)),
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        commit = None
    return versions, commit


def environment(seed: int) -> dict:
    """Seed, package versions, backend, platform and git commit of this run."""
    import jax
    import keras

    versions, commit = _installed()
    devices = [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
    return {
        "seed": seed,
        "keras_backend": keras.backend.backend(),
        "jax_devices": devices,  # where heads train in this process ("gpu:..." with the [gpu] extra)
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "packages": versions,
        "git_commit": commit,
    }
