"""The DEAP individual: a bit genome with a fitness.

The Fitness and Individual classes are plain classes defined once here (what
``deap.creator.create`` would generate), so they pickle under spawn
multiprocessing and never trigger "class already created" warnings.
"""

from __future__ import annotations

import functools

import numpy as np
from deap import base

from .ranking import rank_key


class FitnessMax(base.Fitness):
    """Single-objective fitness to maximise (accuracy)."""

    weights = (1.0,)


class Individual(list):
    """A bit genome (list of 0/1 ints) with a DEAP fitness (of class ``fitness_class``)."""

    fitness_class = FitnessMax

    def __init__(self, bits=()):
        super().__init__(int(b) for b in bits)
        self.fitness = self.fitness_class()

    @property
    def mask(self) -> np.ndarray:
        """The genome as a bool ndarray of shape (n_bits,)."""
        return np.asarray(self, dtype=bool)


def sort_key(individual: Individual) -> tuple:
    """Higher is better: fitness first, then fewer active bits."""
    return rank_key(individual.fitness.values[0], sum(individual))


@functools.cache
def individual_class(weights: tuple) -> type:
    """The Individual class whose fitness has these DEAP ``weights`` (one class per weights)."""
    if tuple(weights) == FitnessMax.weights:
        return Individual
    fitness = type("FitnessPareto", (base.Fitness,), {"weights": tuple(weights)})
    return type("ParetoIndividual", (Individual,), {"fitness_class": fitness})
