"""The GA's bookkeeping of fitness: memo, replay of a resumed run, budget, Logbook, callbacks.

The GA loop hands individuals to :meth:`Evaluator.evaluate` and never needs
to know how their fitness is found: new masks go to ``evaluate_many`` (in
this process, worker processes or a cluster), masks of an interrupted run
come from ``known``, repeats from the memo (free: only new evaluations count
toward the budget).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np
from deap import tools

from ..errors import EvopruneError
from .bits import mask_hash, mask_key
from .callbacks import Callback, split_result
from .individual import Individual, sort_key
from .objectives import SingleObjective

logger = logging.getLogger(__name__)


@runtime_checkable
class BatchFitness(Protocol):
    """What a persisted run (:func:`~evoprune_deap.run.evolution.evolve`) needs of a fitness: its one way in.

    ``evaluate_many(masks, on_result)`` yields each mask's result (a float, or
    ``(fitness, info[, payload])``) in order; ``on_result(mask, result)`` is
    called as each result is computed (the journal of finished work; in any
    order on a cluster). The evaluation layer's fitnesses meet it; a plain
    function meets it through :func:`one_by_one`.
    """

    def evaluate_many(self, masks: list, on_result=None) -> Iterator: ...


@dataclass(frozen=True)
class OneByOne:
    """A :class:`BatchFitness` over a single-mask function, each result computed as it is consumed.

    Also callable as the search's plain ``evaluate_many(masks)`` (what
    :func:`~evoprune_deap.search.steady_state.run_ga` takes).
    """

    evaluate: Callable

    def evaluate_many(self, masks: list, on_result=None) -> Iterator:
        for mask in masks:
            result = self.evaluate(mask)
            if on_result is not None:
                on_result(mask, result)
            yield result

    def __call__(self, masks: list) -> Iterator:
        return self.evaluate_many(masks)


def one_by_one(evaluate: Callable) -> OneByOne:
    """A single-mask fitness function as a :class:`BatchFitness` (toy problems, tests, benchmarks)."""
    return OneByOne(evaluate)


@dataclass(frozen=True)
class Evaluation:
    """One new (non-memoised) fitness evaluation.

    Attributes
    ----------
    index : int
        0-based position in the run's evaluation budget.
    mask : ndarray of shape (n_bits,), bool
    fitness : float
    info : dict
        What the fitness callable returned besides the fitness (epochs, seconds...).
    replayed : bool
        True when the result came from ``known`` (a resumed run).
    values : tuple
        The objective values the GA compares (``(fitness,)`` for the single-objective GA).
    payload : object
        What the fitness returned besides (fitness, info), e.g. trained
        weights; seen by the callbacks, then dropped (None in the history).
    """

    index: int
    mask: np.ndarray
    fitness: float
    info: dict = field(default_factory=dict)
    replayed: bool = False
    values: tuple = ()
    payload: object = field(default=None, repr=False, compare=False)

    @property
    def n_active(self) -> int:
        return int(self.mask.sum())


def _next_result(pending: "Pending", key: bytes):
    """The next result of a ticket; a fitness that raises becomes one clear error naming the mask."""
    try:
        return next(pending.results)
    except EvopruneError:
        raise
    except Exception as exc:
        raise fitness_failure(pending.first[key].mask, exc) from exc


def _close(results) -> None:
    """Stop a batch's results now (a generator's ``finally`` cancels its work while the cluster is up),
    not whenever the garbage collector reaches it."""
    close = getattr(results, "close", None)
    if close is not None:
        close()


def fitness_failure(mask, exc: Exception) -> EvopruneError:
    """The one error for a fitness that raised (here or on a worker): names the mask and the cause."""
    mask = np.asarray(mask, dtype=bool)
    return EvopruneError(
        f"The fitness of mask {mask_hash(mask)} ({int(mask.sum())} active of {mask.shape[0]}) "
        f"failed: {type(exc).__name__}: {exc}"
    )


@dataclass
class Pending:
    """A submitted batch: its individuals, their keys, the keys it scores, and the results to come."""

    individuals: list
    keys: list
    run_keys: list
    first: dict
    results: Iterator
    collected: bool = False


@dataclass
class GAState:
    """What a run knows at any moment; passed to callbacks and returned at the end."""

    population: list
    history: list  # of Evaluation, in budget order
    logbook: tools.Logbook
    max_evaluations: int
    cache_hits: int = 0
    stop_reason: str = ""

    @property
    def n_evaluations(self) -> int:
        return len(self.history)

    @property
    def best(self) -> Individual:
        """The best member by the single-objective rule (fitness, then fewer active bits)."""
        return max(self.population, key=sort_key)


class Evaluator:
    """Gives individuals their fitness within a budget of new evaluations.

    Parameters
    ----------
    evaluate_many : callable
        ``evaluate_many(list of masks) -> iterable of results`` in the same
        order, each a float or ``(float, dict)``; consumed as they arrive, so
        each result is logged as soon as those before it are.
    max_evaluations : int
        Budget of new evaluations (memo hits are free).
    known : dict or None
        ``mask_key -> result`` of an interrupted run with the same seed: used
        instead of ``evaluate_many``, counted in the budget and reported with
        ``replayed=True``.
    callbacks : sequence of Callback
    objectives : SingleObjective or ParetoObjectives
        Turns each result into the values the GA compares, and writes the
        Logbook row; the memo keeps these values, every objective of a mask.
    """

    def __init__(
        self,
        evaluate_many: Callable[[list], Iterable],
        max_evaluations: int,
        *,
        known: dict | None = None,
        callbacks: Sequence[Callback] = (),
        objectives=None,
    ):
        self.evaluate_many = evaluate_many
        self.known = dict(known or {})
        self.callbacks = list(callbacks)
        self.objectives = objectives or SingleObjective()
        self.memo: dict[bytes, tuple] = {}  # mask key -> objective values
        self.in_flight: set[bytes] = set()  # keys submitted and not yet collected
        self.reserved = 0  # budget held by the keys in flight
        logbook = tools.Logbook()
        logbook.header = self.objectives.header
        self.state = GAState(population=[], history=[], logbook=logbook, max_evaluations=max_evaluations)

    @property
    def stopped(self) -> bool:
        """A stop was requested (by a callback or the loop)."""
        return bool(self.state.stop_reason)

    def start(self, population: list) -> None:
        """Watch ``population`` (the loop changes it in place) and call ``on_start``."""
        self.state.population = population
        for callback in self.callbacks:
            callback.on_start(self.state)

    def stop(self, reason: str) -> None:
        self.state.stop_reason = reason

    @property
    def can_submit(self) -> bool:
        """No stop requested and budget left beyond the evaluations in flight."""
        return not self.stopped and self.state.n_evaluations + self.reserved < self.state.max_evaluations

    def submit(self, individuals: list) -> "Pending":
        """Start scoring the new masks among ``individuals`` (within the budget); return the ticket.

        Masks already scored, or in flight for an earlier ticket, are not sent
        again: they get their fitness from the memo when this ticket is collected.
        """
        keys = [mask_key(individual.mask) for individual in individuals]
        new_keys = list(
            dict.fromkeys(key for key in keys if key not in self.memo and key not in self.in_flight)
        )
        room = self.state.max_evaluations - self.state.n_evaluations - self.reserved
        run_keys = new_keys[: max(0, room)]
        first = {key: individual for key, individual in zip(reversed(keys), reversed(individuals))}
        fresh = [first[key].mask for key in run_keys if key not in self.known]
        self.reserved += len(run_keys)
        self.in_flight.update(run_keys)
        return Pending(individuals, keys, run_keys, first, iter(self.evaluate_many(fresh) if fresh else ()))

    def collect(self, pending: "Pending") -> bool:
        """Wait for a ticket's results, in order, and give each individual its fitness.

        Each new result is recorded (history, Logbook) and passed to the
        callbacks as it arrives; a callback asking to stop ends the collection
        there. An individual whose mask was new but beyond the budget keeps an
        invalid fitness. Returns True when at least one new mask was scored.
        """
        state = self.state
        pending.collected = True
        for key in pending.run_keys:
            replayed = key in self.known
            fitness, info, payload = split_result(
                self.known.pop(key) if replayed else _next_result(pending, key)
            )
            self.reserved -= 1
            self.in_flight.discard(key)
            individual = pending.first[key]
            values = self.memo[key] = self.objectives.values(fitness, info, individual.mask)
            individual.fitness.values = values
            evaluation = Evaluation(
                state.n_evaluations, individual.mask, fitness, info, replayed, values, payload
            )
            state.history.append(dataclasses.replace(evaluation, payload=None))
            self._record(evaluation, individual)
            if any(callback.on_evaluation(evaluation, state) for callback in self.callbacks):
                self.stop("callback")
                _close(pending.results)  # the rest of this batch is not collected: cancel it now
                return True
        for key, individual in zip(pending.keys, pending.individuals):
            if key in self.memo and not individual.fitness.valid:
                state.cache_hits += 1
                individual.fitness.values = self.memo[key]
        return bool(pending.run_keys)

    def abandon(self, tickets) -> None:
        """Drop tickets that will not be collected (the run stopped); their work is cancelled if possible."""
        for pending in tickets:
            _close(pending.results)
            pending.collected = True
            self.reserved -= len(pending.run_keys)
            self.in_flight.difference_update(pending.run_keys)

    def _record(self, evaluation: Evaluation, individual: Individual) -> None:
        state = self.state
        scored = [ind for ind in state.population if ind.fitness.valid and ind is not individual] + [
            individual
        ]
        state.logbook.record(**self.objectives.record(evaluation, scored, state.cache_hits))

    def finish(self) -> GAState:
        """Drop unscored members, set the stop reason, call ``on_end``; return the state."""
        state = self.state
        state.stop_reason = state.stop_reason or "budget"
        state.population[:] = [individual for individual in state.population if individual.fitness.valid]
        logger.info(
            "GA stopped (%s) after %d evaluations, %d cache hits",
            state.stop_reason,
            state.n_evaluations,
            state.cache_hits,
        )
        for callback in self.callbacks:
            callback.on_end(state)
        return state
