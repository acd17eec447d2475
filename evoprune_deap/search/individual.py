"""The DEAP individual: a bit genome with a fitness.

The Fitness and Individual classes are plain classes defined once here (what
``deap.creator.create`` would generate), so they pickle under spawn
multiprocessing and never trigger "class already created" warnings.
"""

from __future__ import annotations

import numpy as np
from deap import base

from .ranking import rank_key


class FitnessMax(base.Fitness):
    """Single-objective fitness to maximise (accuracy)."""

    weights = (1.0,)


class Individual(list):
    """A bit genome (list of 0/1 ints) with a DEAP fitness."""

    def __init__(self, bits=()):
        super().__init__(int(b) for b in bits)
        self.fitness = FitnessMax()

    @property
    def mask(self) -> np.ndarray:
        """The genome as a bool ndarray of shape (n_bits,)."""
        return np.asarray(self, dtype=bool)


def sort_key(individual: Individual) -> tuple:
    """Higher is better: fitness first, then fewer active bits."""
    return rank_key(individual.fitness.values[0], sum(individual))
