"""The EvoPruneDeepTL variation operators, drawing from an explicit numpy Generator.

Every function takes ``rng`` (a ``numpy.random.Generator``) and draws from
nothing else, so the GA's stream is independent of Keras' global reseeding.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .individual import Individual, sort_key


def init_density(
    n_bits: int, rng: np.random.Generator, density: float | None = None, cls: type = Individual
) -> Individual:
    """Draw an individual (of class ``cls``) with round(p * n_bits) random active bits.

    ``p`` is ``density`` if given, else drawn from U(0, 1) (the paper's
    initialisation). Draws: one uniform (unless ``density``), one permutation.
    """
    p = rng.uniform() if density is None else density
    n_active = int(round(p * n_bits))
    bits = np.zeros(n_bits, dtype=np.int8)
    bits[rng.permutation(n_bits)[:n_active]] = 1
    return cls(bits)


def hamming(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of positions where two genomes differ."""
    return int(np.count_nonzero(np.asarray(a) != np.asarray(b)))


def select_assortative(
    population: Sequence[Individual], rng: np.random.Generator, n_candidates: int = 3
) -> tuple[Individual, Individual]:
    """Negative assortative mating: a random parent and its most different mate.

    Parent 1 is uniform at random. ``n_candidates`` distinct other members are
    drawn; parent 2 is the one farthest from parent 1 in Hamming distance
    (ties go to the first drawn).
    """
    first = int(rng.integers(len(population)))
    others = np.delete(np.arange(len(population)), first)
    candidates = rng.choice(others, size=min(n_candidates, others.size), replace=False)
    distances = [hamming(population[first], population[c]) for c in candidates]
    return population[first], population[int(candidates[int(np.argmax(distances))])]


def crossover_uniform(
    parent1: Sequence[int], parent2: Sequence[int], rng: np.random.Generator, swap_prob: float = 0.5
) -> tuple[Individual, Individual]:
    """Uniform crossover: each gene swaps between the children with ``swap_prob``.

    Returns two new individuals of the first parent's class; the parents are not modified.
    """
    cls = type(parent1) if isinstance(parent1, Individual) else Individual
    a, b = np.asarray(parent1), np.asarray(parent2)
    swap = rng.random(a.shape[0]) < swap_prob
    return cls(np.where(swap, b, a)), cls(np.where(swap, a, b))


def flip_one_bit(individual: Individual, rng: np.random.Generator) -> Individual:
    """Flip exactly one uniformly chosen bit, in place."""
    position = int(rng.integers(len(individual)))
    individual[position] = 1 - individual[position]
    return individual


def flip_bits(individual: Individual, rng: np.random.Generator, bit_prob: float) -> Individual:
    """Flip each bit independently with ``bit_prob``, in place."""
    flips = np.flatnonzero(rng.random(len(individual)) < bit_prob)
    for position in flips:
        individual[position] = 1 - individual[position]
    return individual


def mutate_pair(children: tuple, rng: np.random.Generator, pair_prob: float | None, flip) -> tuple:
    """Apply ``flip(child, rng=rng)`` to both children with probability ``pair_prob`` per pair.

    ``pair_prob=None`` mutates every pair without drawing (per-bit mutation
    decides per bit). Draws: one uniform (unless None), then what ``flip`` draws.
    """
    if pair_prob is not None and not rng.random() < pair_prob:
        return children
    return tuple(flip(child, rng=rng) for child in children)


def replace_worst(population: list, child: Individual) -> None:
    """Put ``child`` in place of the worst member if strictly better (fitness, then fewer bits)."""
    worst = min(range(len(population)), key=lambda i: sort_key(population[i]))
    if sort_key(child) > sort_key(population[worst]):
        population[worst] = child


def replace_worst_each(population: list, children: Sequence[Individual]) -> None:
    """:func:`replace_worst` with each child in turn (the paper's replacement of a pair)."""
    for child in children:
        replace_worst(population, child)


def select_tournament_dcd(
    population: Sequence[Individual], rng: np.random.Generator
) -> tuple[Individual, Individual]:
    """NSGA-II's parents: two binary tournaments on (non-domination rank, crowding distance).

    Ranks and crowding distances come from DEAP (``sortNondominated``,
    ``assignCrowdingDist``) over the current population; a tournament draws
    two distinct members and keeps the lower rank, then the larger crowding
    distance, then either at random. Draws: per tournament, two indices and,
    on a full tie, one more integer.
    """
    from deap.tools import sortNondominated
    from deap.tools.emo import assignCrowdingDist

    rank = {}
    for level, front in enumerate(sortNondominated(population, len(population))):
        assignCrowdingDist(front)
        rank.update((id(ind), level) for ind in front)

    def key(ind):
        return (-rank[id(ind)], ind.fitness.crowding_dist)

    parents = []
    for _ in range(2):
        a, b = (population[int(i)] for i in rng.choice(len(population), size=2, replace=False))
        parents.append(a if key(a) > key(b) else b if key(b) > key(a) else (a, b)[int(rng.integers(2))])
    return parents[0], parents[1]


def replace_nsga2(population: list, children: Sequence[Individual]) -> None:
    """NSGA-II's steady-state survival: the population and the children, cut back by DEAP's ``selNSGA2``."""
    from deap.tools import selNSGA2

    population[:] = selNSGA2(list(population) + list(children), len(population))
