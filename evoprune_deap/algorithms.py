"""The steady-state GA of EvoPruneDeepTL, over any fitness callable.

This module imports neither Keras nor the head: ``evaluate`` is any callable
``mask -> fitness`` (or ``mask -> (fitness, info)``), so the loop runs on toy
fitness functions in milliseconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from deap import base, tools

from . import operators
from .encodings import Individual, mask_key

logger = logging.getLogger(__name__)


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
        Whatever the fitness callable returned besides the fitness (epochs,
        seconds, ...).
    replayed : bool
        True when the result came from ``known`` (a resumed run) rather than
        from calling ``evaluate``.
    """

    index: int
    mask: np.ndarray
    fitness: float
    info: dict = field(default_factory=dict)
    replayed: bool = False

    @property
    def n_active(self) -> int:
        return int(self.mask.sum())


class Callback:
    """Hooks into the GA loop. ``on_evaluation`` returning True stops the run."""

    def on_start(self, state: "GAState") -> None:
        pass

    def on_evaluation(self, evaluation: Evaluation, state: "GAState") -> bool | None:
        return None

    def on_end(self, state: "GAState") -> None:
        pass


@dataclass
class GAState:
    """What the loop knows at any moment; passed to callbacks."""

    population: list
    evaluations: list
    logbook: tools.Logbook
    max_evaluations: int
    cache_hits: int = 0
    steps: int = 0
    stop_reason: str = ""

    @property
    def n_evaluations(self) -> int:
        return len(self.evaluations)

    @property
    def best(self) -> Individual:
        return max(self.population, key=sort_key)


def sort_key(individual: Individual) -> tuple:
    """Higher is better: fitness first, then fewer active bits."""
    return (individual.fitness.values[0], -sum(individual))


class _Stop(Exception):
    pass


def build_toolbox(n_bits: int, rng: np.random.Generator, *, init_density: float | None,
                  n_candidates: int, mutation: str, per_bit_prob: float) -> base.Toolbox:
    """Bind the operators to this run's rng and settings."""
    toolbox = base.Toolbox()
    toolbox.register("individual", operators.init_density, n_bits, rng, init_density)
    toolbox.register("select", operators.select_assortative, rng=rng, n_candidates=n_candidates)
    toolbox.register("mate", operators.crossover_uniform, rng=rng)
    if mutation == "one_bit":
        toolbox.register("mutate", operators.flip_one_bit, rng=rng)
    else:
        toolbox.register("mutate", operators.flip_bits, rng=rng, bit_prob=per_bit_prob)
    return toolbox


def steady_state_ga(evaluate: Callable, n_bits: int, rng: np.random.Generator, *,
                    population_size: int = 30, max_evaluations: int = 200,
                    mutation_prob: float = 0.07, mutation: str = "one_bit",
                    per_bit_prob: float = 0.001, init_density: float | None = None,
                    n_candidates: int = 3, max_stale_steps: int = 1000,
                    callbacks: Sequence[Callback] = (), known: dict | None = None,
                    evaluate_many: Callable | None = None, batch_size: int = 1) -> GAState:
    """Run the EvoPruneDeepTL steady-state GA.

    Each step: negative assortative mating picks two parents; uniform
    crossover makes two children; with ``mutation_prob`` per pair, each child
    gets exactly one bit flipped (``mutation="one_bit"``, the paper's), or,
    with ``mutation="per_bit"``, each bit of each child flips with
    ``per_bit_prob``; each child then replaces the current worst member if
    it is strictly better (higher fitness, ties broken by fewer active bits).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(mask) -> float`` or ``-> (float, dict)``, mask a bool ndarray.
    n_bits : int
    rng : numpy Generator
        The only source of randomness of the GA.
    population_size, max_evaluations : int
        The budget counts new evaluations, the initial population included;
        memoised repeats (cache hits) are free.
    max_stale_steps : int
        Stop after this many consecutive steps whose children were all cache
        hits (the population has converged).
    callbacks : sequence of Callback
    known : dict or None
        ``mask_key -> (fitness, info)`` results of an interrupted run with the
        same seed: used instead of calling ``evaluate``, counted in the budget
        and reported with ``replayed=True``.
    evaluate_many : callable or None
        ``evaluate_many(list of masks) -> iterable of results`` in the same
        order, e.g. worker processes; used for the two children of a step and
        for chunks of ``batch_size`` of the initial population (a whole
        population at once lets workers balance masks of different sizes).
        Results are consumed as they arrive. The run is the same as with
        ``evaluate`` alone.

    Returns
    -------
    GAState
        Final population, every evaluation in order, Logbook and stop reason.
    """
    toolbox = build_toolbox(n_bits, rng, init_density=init_density, n_candidates=n_candidates,
                            mutation=mutation, per_bit_prob=per_bit_prob)
    logbook = tools.Logbook()
    logbook.header = ["evaluation", "fitness", "n_active", "best", "best_active", "mean", "cache_hits"]
    state = GAState(population=[], evaluations=[], logbook=logbook, max_evaluations=max_evaluations)
    memo: dict[bytes, tuple[float, dict]] = {}
    known = dict(known or {})
    evaluate_many = evaluate_many or (lambda masks: [evaluate(mask) for mask in masks])

    def assign(individuals: list) -> tuple[bool, bool]:
        """Give each individual its fitness, evaluating new masks within the budget.

        Returns (any new evaluation, budget exhausted before all were scored).
        """
        keys = [mask_key(ind.mask) for ind in individuals]
        new_keys = list(dict.fromkeys(k for k in keys if k not in memo))
        room = max_evaluations - state.n_evaluations
        run_keys = new_keys[:room]
        first = {key: ind for key, ind in zip(reversed(keys), reversed(individuals))}
        fresh = [key for key in run_keys if key not in known]
        # Consumed in order as they arrive, so each is logged as soon as those before it are.
        results = iter(evaluate_many([first[key].mask for key in fresh]) if fresh else ())
        for key in run_keys:
            replayed = key in known
            result = known.pop(key) if replayed else next(results)
            fitness, info = (result if isinstance(result, tuple) else (result, {}))
            memo[key] = (float(fitness), info)
            first[key].fitness.values = (float(fitness),)
            evaluation = Evaluation(state.n_evaluations, first[key].mask, float(fitness), dict(info), replayed)
            state.evaluations.append(evaluation)
            _record(state, evaluation, first[key])
            if any(callback.on_evaluation(evaluation, state) for callback in callbacks):
                raise _Stop("callback")
        for key, individual in zip(keys, individuals):
            if key in memo and not individual.fitness.valid:
                state.cache_hits += 1
                individual.fitness.values = (memo[key][0],)
        return bool(run_keys), len(new_keys) > room

    for callback in callbacks:
        callback.on_start(state)
    try:
        newcomers = [toolbox.individual() for _ in range(population_size)]
        for begin in range(0, population_size, max(1, batch_size)):
            chunk = newcomers[begin:begin + max(1, batch_size)]
            state.population.extend(chunk)
            _, exhausted = assign(chunk)
            state.population = [ind for ind in state.population if ind.fitness.valid]
            if exhausted:
                raise _Stop("budget")
        stale = 0
        while state.n_evaluations < max_evaluations:
            state.steps += 1
            parent1, parent2 = toolbox.select(state.population)
            children = toolbox.mate(parent1, parent2)
            if mutation == "per_bit" or rng.random() < mutation_prob:
                children = tuple(toolbox.mutate(child) for child in children)
            new, exhausted = assign(list(children))
            for child in children:
                if not child.fitness.valid:
                    continue
                worst = min(range(len(state.population)), key=lambda i: sort_key(state.population[i]))
                if sort_key(child) > sort_key(state.population[worst]):
                    state.population[worst] = child
            if exhausted:
                raise _Stop("budget")
            stale = 0 if new else stale + 1
            if stale >= max_stale_steps:
                raise _Stop("stale")
        state.stop_reason = "budget"
    except _Stop as stop:
        state.stop_reason = str(stop)
    state.population = [ind for ind in state.population if ind.fitness.valid]
    logger.info("GA stopped (%s) after %d evaluations, %d cache hits", state.stop_reason,
                state.n_evaluations, state.cache_hits)
    for callback in callbacks:
        callback.on_end(state)
    return state


def _record(state: GAState, evaluation: Evaluation, individual: Individual) -> None:
    scored = [ind for ind in state.population if ind.fitness.valid and ind is not individual] + [individual]
    best = max(scored, key=sort_key)
    state.logbook.record(
        evaluation=evaluation.index + 1,
        fitness=evaluation.fitness,
        n_active=evaluation.n_active,
        best=best.fitness.values[0],
        best_active=int(sum(best)),
        mean=float(np.mean([ind.fitness.values[0] for ind in scored])),
        cache_hits=state.cache_hits,
    )


def timed(evaluate: Callable) -> Callable:
    """Wrap a fitness callable so its info records the wall seconds it took."""

    def wrapper(mask):
        start = time.perf_counter()
        result = evaluate(mask)
        fitness, info = result if isinstance(result, tuple) else (result, {})
        return fitness, {**info, "seconds": time.perf_counter() - start}

    return wrapper
