"""The GA with crash-safe persistence: every evaluation is on disk before the next starts.

The GA is a pure function of the run seed and the fitness values, so its
checkpoint is just the evaluations log: resuming replays the run from the seed,
taking the logged fitness of each mask instead of retraining it. A resumed run
therefore ends with exactly the evaluations and best mask of an uninterrupted
one, and no pickled state is ever loaded.

With worker processes, masks finish out of GA order (a free worker takes the
next mask of the initial population), and the log stays in GA order, so each
result is also written the moment it arrives to ``finished.csv``, a journal
in finishing order; resuming reads both, so no finished evaluation is lost.
"""

from __future__ import annotations

import os
import signal
import threading

from . import rundir
from .algorithms import Callback, GAState, steady_state_ga
from .config import GAConfig
from .encodings import mask_hash, mask_key, mask_to_hex
from .errors import EvopruneError
from .seeding import derive_seed, make_rng


class RunInterrupted(EvopruneError):
    """The run was stopped by the user (Ctrl-C) after a finished evaluation."""


def log_row(number: int, mask, fitness: float, info: dict, n_bits: int) -> dict:
    """One row of an evaluations log."""
    n_active = int(mask.sum())
    return {
        "evaluation": number,
        "mask_hash": mask_hash(mask),
        "n_active": n_active,
        "active_percent": round(100.0 * n_active / n_bits, 4),
        "fitness": repr(float(fitness)),
        "val_accuracy": repr(info["val_accuracy"]) if "val_accuracy" in info else "",
        "epochs": info.get("epochs", ""),
        "seconds": round(info.get("seconds", 0.0), 4),
        "mask": mask_to_hex(mask),
    }


class EvaluationWriter(Callback):
    """Appends each evaluation after the first ``n_logged`` to the run's log (flushed and fsynced).

    On resume the first ``n_logged`` evaluations replay the log's own rows;
    later ones are new, or replayed from the journal, and are written.
    """

    def __init__(self, log: rundir.EvaluationLog, n_bits: int, n_logged: int = 0):
        self.log, self.n_bits, self.n_logged = log, n_bits, n_logged

    def on_evaluation(self, evaluation, state):
        if evaluation.index >= self.n_logged:
            self.log.append(log_row(evaluation.index + 1, evaluation.mask, evaluation.fitness,
                                    evaluation.info, self.n_bits))


class FinishedJournal:
    """``finished.csv``: every result from the workers, in the order they finish.

    Same columns as ``evaluations.csv``, numbered in finishing order; called
    from the pool's helper thread, so appends are serialised.
    """

    def __init__(self, path: str, n_bits: int, n_existing: int):
        self.log, self.n_bits, self.count = rundir.EvaluationLog(path), n_bits, n_existing
        self._lock = threading.Lock()

    def __call__(self, mask, result) -> None:
        fitness, info = result if isinstance(result, tuple) else (result, {})
        with self._lock:
            self.count += 1
            self.log.append(log_row(self.count, mask, fitness, info, self.n_bits))

    def close(self) -> None:
        with self._lock:
            self.log.close()


class StopOnInterrupt(Callback):
    """First Ctrl-C: stop after the evaluation in progress. Second: stop at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_start(self, state):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handler)

    def on_evaluation(self, evaluation, state):
        return self.requested

    def on_end(self, state):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def known_results(rows: list[dict]) -> dict:
    """``mask_key -> (fitness, info)`` from the rows of an evaluations log."""
    known = {}
    for row in rows:
        info = {"epochs": int(row["epochs"]) if row["epochs"] else "", "seconds": float(row["seconds"] or 0)}
        if row["val_accuracy"]:
            info["val_accuracy"] = float(row["val_accuracy"])
        known[mask_key(row["mask"])] = (row["fitness"], info)
    return known


def evolve(fitness, n_bits: int, ga: GAConfig, seed: int, run_dir: str, callbacks=(),
           pool=None, resume: bool = False) -> GAState:
    """Run the steady-state GA, logging to ``run_dir/evaluations.csv``.

    With ``pool`` (a :class:`evoprune_deap.parallel.WorkerPool`), masks are
    trained in its workers, the whole initial population queued at once; the
    pool is closed (running masks finished and journaled) before returning.
    With ``resume``, the evaluations already logged are replayed (a torn last
    line is dropped) and the run continues where it stopped.

    Raises
    ------
    RunInterrupted
        After a Ctrl-C, once the evaluation in progress is logged.
    RunDirectoryError
        The log cannot be written (disk full...) or read.
    """
    path = os.path.join(run_dir, "evaluations.csv")
    journal_path = os.path.join(run_dir, "finished.csv")
    finished = rundir.read_evaluation_log(journal_path) if resume and os.path.exists(journal_path) else []
    logged = rundir.read_evaluation_log(path) if resume and os.path.exists(path) else []
    known = {**known_results(finished), **known_results(logged)}
    log = rundir.EvaluationLog(path)
    journal = FinishedJournal(journal_path, n_bits, len(finished)) if pool is not None else None
    interrupt = StopOnInterrupt()
    try:
        state = steady_state_ga(
            fitness, n_bits, make_rng(derive_seed(seed, "ga")),
            population_size=ga.population, max_evaluations=ga.evaluations,
            mutation_prob=ga.mutation_prob, mutation=ga.mutation, per_bit_prob=ga.per_bit_prob,
            init_density=ga.init_density, n_candidates=ga.candidates, max_stale_steps=ga.max_stale_steps,
            callbacks=[EvaluationWriter(log, n_bits, len(logged)), interrupt, *callbacks], known=known,
            evaluate_many=(lambda masks: pool.map(masks, on_result=journal)) if pool is not None else None,
            batch_size=ga.population,
        )
    except BaseException:  # a second Ctrl-C or an error: do not wait for the trainings in flight
        if pool is not None:
            pool.terminate()
        raise
    finally:
        if pool is not None:
            pool.close()
            journal.close()
        log.close()
    if interrupt.requested:
        raise RunInterrupted(
            f"Interrupted after {state.n_evaluations} evaluations (all saved); continue with "
            f"`evoprune run --resume {run_dir}`."
        )
    return state
