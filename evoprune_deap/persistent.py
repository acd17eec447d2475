"""The GA with crash-safe persistence: every evaluation is on disk before the next starts.

The GA is a pure function of the run seed and the fitness values, so its
checkpoint is just the evaluations log: resuming replays the run from the seed,
taking the logged fitness of each mask instead of retraining it. A resumed run
therefore ends with exactly the evaluations and best mask of an uninterrupted
one, and no pickled state is ever loaded.
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


class EvaluationWriter(Callback):
    """Appends each new evaluation to the run's log (flushed and fsynced)."""

    def __init__(self, log: rundir.EvaluationLog, n_bits: int):
        self.log, self.n_bits = log, n_bits

    def on_evaluation(self, evaluation, state):
        if not evaluation.replayed:
            self.log.append({
                "evaluation": evaluation.index + 1,
                "mask_hash": mask_hash(evaluation.mask),
                "n_active": evaluation.n_active,
                "active_percent": round(100.0 * evaluation.n_active / self.n_bits, 4),
                "fitness": repr(evaluation.fitness),
                "val_accuracy": repr(evaluation.info["val_accuracy"]) if "val_accuracy" in evaluation.info else "",
                "epochs": evaluation.info.get("epochs", ""),
                "seconds": round(evaluation.info.get("seconds", 0.0), 4),
                "mask": mask_to_hex(evaluation.mask),
            })


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
           evaluate_many=None, batch_size: int = 1, resume: bool = False) -> GAState:
    """Run the steady-state GA, logging to ``run_dir/evaluations.csv``.

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
    known = known_results(rundir.read_evaluation_log(path)) if resume and os.path.exists(path) else {}
    log = rundir.EvaluationLog(path)
    interrupt = StopOnInterrupt()
    try:
        state = steady_state_ga(
            fitness, n_bits, make_rng(derive_seed(seed, "ga")),
            population_size=ga.population, max_evaluations=ga.evaluations,
            mutation_prob=ga.mutation_prob, mutation=ga.mutation, per_bit_prob=ga.per_bit_prob,
            init_density=ga.init_density, n_candidates=ga.candidates, max_stale_steps=ga.max_stale_steps,
            callbacks=[EvaluationWriter(log, n_bits), interrupt, *callbacks], known=known,
            evaluate_many=evaluate_many, batch_size=batch_size,
        )
    finally:
        log.close()
    if interrupt.requested:
        raise RunInterrupted(
            f"Interrupted after {state.n_evaluations} evaluations (all saved); continue with "
            f"`evoprune run --resume {run_dir}`."
        )
    return state
