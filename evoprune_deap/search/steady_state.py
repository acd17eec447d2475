"""The steady-state GA of EvoPruneDeepTL (DEAP toolbox, explicit numpy Generator).

This module imports neither Keras nor the head: fitness is whatever the
:class:`~evoprune_deap.search.evaluator.Evaluator` is given, so the loop
runs on toy fitness functions in milliseconds.
"""

from __future__ import annotations

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
    """Run EvoPruneDeepTL's steady-state GA until the budget, a stale population or a callback stops it.

    The initial population is evaluated at once. Then each step selects two
    parents (negative assortative mating), mates them (uniform crossover),
    mutates the pair, evaluates the two children, and lets each replace the
    current worst member if strictly better. After ``ga.max_stale_steps``
    steps in a row with only memoised children, the run stops ("stale").
    """
    population = toolbox.population(n=ga.population)
    evaluator.start(population)
    evaluator.evaluate(population)
    population[:] = [individual for individual in population if individual.fitness.valid]
    stale = 0
    while evaluator.running:
        children = toolbox.mutate(toolbox.mate(*toolbox.select(population)))
        new = evaluator.evaluate(children)
        if evaluator.stopped:  # a callback asked to stop: the children stay out
            break
        for child in children:
            if child.fitness.valid:
                toolbox.replace(population, child)
        stale = 0 if new else stale + 1
        if stale >= ga.max_stale_steps:
            evaluator.stop("stale")
    return evaluator.finish()


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
