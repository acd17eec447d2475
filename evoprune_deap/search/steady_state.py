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


def build_toolbox(n_bits: int, rng: np.random.Generator, ga: GAConfig) -> base.Toolbox:
    """Bind the paper's operators to this run's ``rng`` and GA settings.

    ``mutate`` takes the two children of a step: with ``mutation="one_bit"``
    (the paper's), with probability ``mutation_prob`` per pair, one bit flips
    in each child; with ``"per_bit"``, each bit flips with ``per_bit_prob``.
    """
    toolbox = base.Toolbox()
    toolbox.register("individual", operators.init_density, n_bits, rng, ga.init_density)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("select", operators.select_assortative, rng=rng, n_candidates=ga.candidates)
    toolbox.register("mate", operators.crossover_uniform, rng=rng)
    if ga.mutation == "one_bit":
        toolbox.register("mutate", operators.mutate_pair, rng=rng, pair_prob=ga.mutation_prob,
                         flip=operators.flip_one_bit)
    else:
        toolbox.register("mutate", operators.mutate_pair, rng=rng, pair_prob=None,
                         flip=partial(operators.flip_bits, bit_prob=ga.per_bit_prob))
    toolbox.register("replace", operators.replace_worst)
    return toolbox


def steady_state_ga(toolbox: base.Toolbox, ga: GAConfig, evaluator: Evaluator) -> GAState:
    """Run EvoPruneDeepTL's steady-state GA with ``ga.in_flight`` pairs of children in flight.

    The initial population is submitted at once. Each step selects two parents
    (negative assortative mating, which reads genomes only), mates them
    (uniform crossover) and mutates the pair; its children are submitted for
    evaluation. Pair s is bred from the population as it stands after pairs up
    to s - K have been integrated (K = ``ga.in_flight``; K = 1 is the paper's
    GA), so pairs 1..K are bred from the initial genomes while those are still
    being scored. Pairs are integrated strictly in breeding order: each child
    replaces the current worst member if strictly better. So the run depends
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
            for child in children:
                if child.fitness.valid:
                    toolbox.replace(population, child)
            stale = 0 if new else stale + 1
            if stale >= ga.max_stale_steps:
                evaluator.stop("stale")
            _breed(toolbox, population, pairs, ga.in_flight, evaluator)
    finally:  # a stop, an error or a second Ctrl-C: cancel the work still in flight
        evaluator.abandon([initial] * (not initial.collected) + [pending for _, pending in pairs])
    return evaluator.finish()


def _breed(toolbox: base.Toolbox, population: list, pairs: deque, in_flight: int, evaluator: Evaluator) -> None:
    """Breed and submit pairs until ``in_flight`` are in flight or the budget is spoken for."""
    while len(pairs) < in_flight and evaluator.can_submit:
        children = toolbox.mutate(toolbox.mate(*toolbox.select(population)))
        pairs.append((children, evaluator.submit(children)))


def run_ga(evaluate_many, n_bits: int, ga: GAConfig, rng: np.random.Generator, *, callbacks=(),
           known: dict | None = None) -> GAState:
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
    """
    evaluator = Evaluator(evaluate_many, ga.evaluations, known=known, callbacks=callbacks)
    return steady_state_ga(build_toolbox(n_bits, rng, ga), ga, evaluator)
