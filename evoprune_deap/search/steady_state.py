"""The steady-state GA of EvoPruneDeepTL (DEAP toolbox, explicit numpy Generator).

This module imports neither Keras nor the head: fitness is whatever the
:class:`~evoprune_deap.search.evaluator.Evaluator` is given, so the loop
runs on toy fitness functions in milliseconds.
"""

from __future__ import annotations

from collections import deque
from functools import partial

import numpy as np
from deap import base, tools

from ..config import GAConfig
from . import operators
from .evaluator import Evaluator, GAState
from .objectives import make_objectives


def build_toolbox(n_bits: int, rng: np.random.Generator, ga: GAConfig, objectives=None) -> base.Toolbox:
    """Bind the operators to this run's ``rng``, GA settings and objectives.

    Single objective (the paper's GA): negative assortative mating, uniform
    crossover, ``mutate`` on the two children of a step (``mutation="one_bit"``,
    the paper's: with probability ``mutation_prob`` per pair, one bit flips in
    each child; ``"per_bit"``: each bit flips with ``per_bit_prob``), and each
    child replaces the worst member if better.

    Several objectives (MO-EvoPruneDeepTL's steady-state NSGA-II): binary
    tournaments on rank and crowding distance, uniform crossover, every bit
    of both children flipped with probability 1 / n_bits, and DEAP's
    ``selNSGA2`` cutting the population plus the pair back to its size.
    """
    objectives = objectives or make_objectives(None)
    toolbox = base.Toolbox()
    toolbox.register(
        "individual", operators.init_density, n_bits, rng, ga.init_density, cls=objectives.individual
    )
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("mate", operators.crossover_uniform, rng=rng)
    if objectives.multi:
        toolbox.register("select", operators.select_tournament_dcd, rng=rng)
        toolbox.register(
            "mutate",
            operators.mutate_pair,
            rng=rng,
            pair_prob=None,
            flip=partial(operators.flip_bits, bit_prob=1.0 / n_bits),
        )
        toolbox.register("replace", operators.replace_nsga2)
        return toolbox
    toolbox.register("select", operators.select_assortative, rng=rng, n_candidates=ga.candidates)
    if ga.mutation == "one_bit":
        toolbox.register(
            "mutate", operators.mutate_pair, rng=rng, pair_prob=ga.mutation_prob, flip=operators.flip_one_bit
        )
    else:
        toolbox.register(
            "mutate",
            operators.mutate_pair,
            rng=rng,
            pair_prob=None,
            flip=partial(operators.flip_bits, bit_prob=ga.per_bit_prob),
        )
    toolbox.register("replace", operators.replace_worst_each)
    return toolbox


def steady_state_ga(toolbox: base.Toolbox, ga: GAConfig, evaluator: Evaluator) -> GAState:
    """Run EvoPruneDeepTL's steady-state GA with ``ga.in_flight`` pairs of children in flight.

    The initial population is submitted at once. Each step selects two parents
    (negative assortative mating, which reads genomes only), mates them
    (uniform crossover) and mutates the pair; its children are submitted for
    evaluation. Pair s is bred from the population as it stands after pairs up
    to s - K have been integrated (K = ``ga.in_flight``; K = 1 is the paper's
    GA), so pairs 1..K are bred from the initial genomes while those are still
    being scored. Pairs are integrated strictly in breeding order by
    ``toolbox.replace`` (single objective: each child replaces the current
    worst member if strictly better; NSGA-II: survival of the fittest of the
    population and the pair). So the run depends
    only on the seed and the fitness values, never on how many workers there
    are or when results arrive. After ``ga.max_stale_steps`` pairs in a row
    with only memoised children, breeding stops ("stale").
    """
    population = toolbox.population(n=ga.population)
    evaluator.start(population)
    initial, pairs, stale = evaluator.submit(population), deque(), 0
    try:
        _breed(toolbox, population, pairs, ga.in_flight, evaluator)
        evaluator.collect(initial)
        population[:] = [individual for individual in population if individual.fitness.valid]
        while pairs and evaluator.state.stop_reason != "callback":
            children, pending = pairs.popleft()
            new = evaluator.collect(pending)
            if evaluator.state.stop_reason == "callback":  # the children stay out
                break
            toolbox.replace(population, [child for child in children if child.fitness.valid])
            stale = 0 if new else stale + 1
            if stale >= ga.max_stale_steps:
                evaluator.stop("stale")
            _breed(toolbox, population, pairs, ga.in_flight, evaluator)
    finally:  # a stop, an error or a second Ctrl-C: cancel the work still in flight
        evaluator.abandon([initial] * (not initial.collected) + [pending for _, pending in pairs])
    return evaluator.finish()


def _breed(
    toolbox: base.Toolbox, population: list, pairs: deque, in_flight: int, evaluator: Evaluator
) -> None:
    """Breed and submit pairs until ``in_flight`` are in flight or the budget is spoken for."""
    while len(pairs) < in_flight and evaluator.can_submit:
        children = toolbox.mutate(toolbox.mate(*toolbox.select(population)))
        pairs.append((children, evaluator.submit(children)))


def run_ga(
    evaluate_many,
    n_bits: int,
    ga: GAConfig,
    rng: np.random.Generator,
    *,
    callbacks=(),
    known: dict | None = None,
    objectives=None,
) -> GAState:
    """Build the toolbox and evaluator for one run and run :func:`steady_state_ga`.

    Parameters
    ----------
    evaluate_many : callable
        ``list of masks -> iterable of results`` (see
        :class:`~evoprune_deap.search.evaluator.Evaluator`; wrap a single-mask
        callable with :func:`~evoprune_deap.search.evaluator.one_by_one`).
    n_bits : int
    ga : GAConfig
    rng : numpy Generator
        The only source of randomness of the GA.
    callbacks : sequence of Callback
    known : dict or None
        Results of an interrupted run, replayed instead of recomputed.
    objectives : SingleObjective or ParetoObjectives or None
        Default: the single-objective GA (see :mod:`evoprune_deap.search.objectives`).
    """
    objectives = objectives or make_objectives(None)
    evaluator = Evaluator(evaluate_many, ga.budget, known=known, callbacks=callbacks, objectives=objectives)
    return steady_state_ga(build_toolbox(n_bits, rng, ga, objectives), ga, evaluator)
