"""Which of two scored masks is better: higher fitness first, then fewer active bits; and a front's knee.

The one statement of the paper's "best individual" rule, used by the GA,
the tables and the plots (numpy only), and of the knee of a Pareto front,
used by ``evoprune select --knee`` and the reports.
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


def knee_index(active: np.ndarray, accuracy: np.ndarray) -> int:
    """The knee of a front: the member farthest above the line joining its two ends.

    Both axes are scaled to [0, 1] over the front (active fraction, accuracy);
    the ends are the sparsest and the densest members. With fewer than three
    members, or a flat front, the most accurate member.
    """
    active, accuracy = np.asarray(active, float), np.asarray(accuracy, float)
    span_x, span_y = np.ptp(active), np.ptp(accuracy)
    if active.size < 3 or span_x == 0 or span_y == 0:
        return int(np.argmax(accuracy))
    x, y = (active - active.min()) / span_x, (accuracy - accuracy.min()) / span_y
    first, last = int(np.argmin(active)), int(np.argmax(active))
    (x0, y0), (x1, y1) = (x[first], y[first]), (x[last], y[last])
    above = ((x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)) / np.hypot(x1 - x0, y1 - y0)
    return int(np.argmax(above))
