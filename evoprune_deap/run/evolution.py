"""The GA with crash-safe persistence: every evaluation is on disk before the next starts.

The GA is a pure function of the run seed and the fitness values, so its
checkpoint is just the evaluations log: resuming replays the run from the seed,
taking the logged fitness of each mask instead of retraining it. A resumed run
therefore ends with exactly the evaluations and best mask of an uninterrupted
one, and no pickled state is ever loaded.

On a cluster, masks finish out of GA order (a free worker takes the next
mask of the initial population, or of a later pair in flight), and the log
stays in GA order, so each result is also written the moment it arrives to
``finished.csv``, a journal in finishing order; resuming reads both, so no
finished evaluation is lost.
"""

from __future__ import annotations

import functools
import os
import shlex
import signal
import threading

from ..config import GAConfig
from ..errors import RunInterrupted
from ..records.directory import RunDirectory
from ..records.evaluation_log import (
    EvaluationLog,
    EvaluationWriter,
    FinishedJournal,
    columns_for,
    journal_columns,
    known_results,
    read_log,
)
from ..search.callbacks import Callback
from ..search.evaluator import BatchFitness, GAState
from ..search.objectives import make_objectives
from ..search.steady_state import run_ga
from ..seeding import derive_seed, make_rng


class StopOnInterrupt(Callback):
    """First Ctrl-C or SIGTERM (a job scheduler's stop): stop after the evaluation in progress. Second: stop
    at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_start(self, state):
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._handler) for number in self.SIGNALS}

    def on_evaluation(self, evaluation, state):
        return self.requested

    def on_end(self, state):
        for number, previous in self._previous.items():
            signal.signal(number, previous)
        self._previous = {}


def _read_if_resuming(run_dir: RunDirectory, name: str, resume: bool) -> list[dict]:
    return read_log(run_dir.file(name)) if resume and run_dir.has(name) else []


def evolve(
    fitness: BatchFitness,
    n_bits: int,
    ga: GAConfig,
    seed: int,
    run_dir: RunDirectory,
    callbacks=(),
    resume: bool = False,
    with_ood: bool = False,
    is_empty=None,
    with_spread: bool = False,
) -> GAState:
    """Run the steady-state GA (NSGA-II with ``ga.objectives``), logging every evaluation to the run
    directory.

    Parameters
    ----------
    fitness : BatchFitness
        The one way in (:class:`~evoprune_deap.search.evaluator.BatchFitness`):
        ``evaluate_many(masks, on_result)``; results, which may finish out of
        order, are journaled to ``finished.csv`` as they do. ``MaskFitness``
        and ``ClusterFitness`` meet it; a plain ``mask -> fitness`` function
        through :func:`~evoprune_deap.search.evaluator.one_by_one`.
    n_bits : int
    ga : GAConfig
    seed : int
        The run seed; the GA's Generator derives from it.
    run_dir : RunDirectory
    callbacks : sequence of Callback
    resume : bool
        Replay the evaluations already logged (a torn last line is dropped)
        and continue where the run stopped.
    with_ood : bool
        The fitness reports an OOD AUROC (``info["ood_auroc"]``): log it.
    with_spread : bool
        The fitness reports each mask's spread over repeats or folds (``info["spread"]``): log it.
    is_empty : callable or None
        ``mask -> bool``: the masks whose head cannot be trained (see
        :class:`~evoprune_deap.search.objectives.ParetoObjectives`).

    Raises
    ------
    RunInterrupted
        After a Ctrl-C, once the evaluation in progress is logged.
    RunDirectoryError
        The log cannot be written (disk full...) or read.
    """
    finished = _read_if_resuming(run_dir, RunDirectory.JOURNAL, resume)
    logged = _read_if_resuming(run_dir, RunDirectory.EVALUATIONS, resume)
    columns = columns_for(with_ood, with_spread)
    log = EvaluationLog(run_dir.file(RunDirectory.EVALUATIONS), columns)
    journal = FinishedJournal(run_dir.file(RunDirectory.JOURNAL), len(finished), journal_columns(columns))
    interrupt = StopOnInterrupt()
    evaluate_many = functools.partial(fitness.evaluate_many, on_result=journal)
    try:
        state = run_ga(
            evaluate_many,
            n_bits,
            ga,
            make_rng(derive_seed(seed, "ga")),
            callbacks=[EvaluationWriter(log, len(logged)), interrupt, *callbacks],
            known={**known_results(finished), **known_results(logged)},
            objectives=make_objectives(ga.objectives, is_empty),
        )
    finally:
        journal.close()
        log.close()
    if interrupt.requested:
        raise RunInterrupted(
            f"Interrupted after {state.n_evaluations} evaluations (all saved); continue with "
            f"`evoprune run --resume {shlex.quote(os.path.abspath(str(run_dir)))}`."
        )
    return state
