"""The EvoPruneDeepTL variation operators, drawing from an explicit numpy Generator.

Every function takes ``rng`` (a ``numpy.random.Generator``) and draws from
nothing else, so the GA's stream is independent of Keras' global reseeding.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .individual import Individual, sort_key


def init_density(n_bits: int, rng: np.random.Generator, density: float | None = None) -> Individual:
    """Draw an individual with round(p * n_bits) random active bits.

    ``p`` is ``density`` if given, else drawn from U(0, 1) (the paper's
    initialisation). Draws: one uniform (unless ``density``), one permutation.
    """
    p = rng.uniform() if density is None else density
    n_active = int(round(p * n_bits))
    bits = np.zeros(n_bits, dtype=np.int8)
    bits[rng.permutation(n_bits)[:n_active]] = 1
    return Individual(bits)


def hamming(a: Sequence[int], b: Sequence[int]) -> int:
    """Number of positions where two genomes differ."""
    return int(np.count_nonzero(np.asarray(a) != np.asarray(b)))


def select_assortative(population: Sequence[Individual], rng: np.random.Generator,
                       n_candidates: int = 3) -> tuple[Individual, Individual]:
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


def crossover_uniform(parent1: Sequence[int], parent2: Sequence[int], rng: np.random.Generator,
                      swap_prob: float = 0.5) -> tuple[Individual, Individual]:
    """Uniform crossover: each gene swaps between the children with ``swap_prob``.

    Returns two new individuals; the parents are not modified.
    """
    a, b = np.asarray(parent1), np.asarray(parent2)
    swap = rng.random(a.shape[0]) < swap_prob
    return Individual(np.where(swap, b, a)), Individual(np.where(swap, a, b))


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
