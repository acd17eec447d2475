"""Which of two scored masks is better: higher fitness first, then fewer active bits.

The one statement of the paper's "best individual" rule, used by the GA,
the tables and the plots (numpy only).
"""

from __future__ import annotations

import numpy as np


def rank_key(fitness: float, n_active: int) -> tuple:
    """Sort key, higher is better: fitness, then fewer active bits."""
    return (fitness, -n_active)


def best_so_far_index(fitness, n_active) -> np.ndarray:
    """For each position i, the index of the best of the first i + 1 entries (the earliest on ties)."""
    best, index = None, []
    for i, key in enumerate(map(rank_key, fitness, n_active)):
        if best is None or key > best[0]:
            best = (key, i)
        index.append(best[1])
    return np.asarray(index, dtype=int)


def best_index(fitness, n_active) -> int:
    """Index of the best entry (the earliest on ties)."""
    return int(best_so_far_index(fitness, n_active)[-1])
