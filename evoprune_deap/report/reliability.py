"""How much of a fitness belongs to the mask: variance components and intraclass correlations.

A table of scores with one row per mask and one column per training seed is
a one-way layout (per-mask seeds: each cell its own seed) or a two-way one
(common seeds: column ``s`` is the same seed for every mask). From the ANOVA
mean squares (Shrout and Fleiss 1979, Psychological Bulletin 86(2)):

- ICC(1): ``(MSB - MSW) / (MSB + (k - 1) MSW)``, the share of a single
  score's variance that is the mask's, when seeds are not shared;
- ICC(3,1), consistency: ``(MSB - MSE) / (MSB + (k - 1) MSE)``, the same once
  the shared seed's effect is taken out (what ranking masks under common
  seeds sees);
- the seed standard deviation (within masks), the between-mask standard
  deviation of the mask means, and for common seeds the seed effect.
"""

from __future__ import annotations

import numpy as np


def mean_squares(scores: np.ndarray) -> dict:
    """ANOVA mean squares of an (n masks, k seeds) table: between masks, between seeds, within, residual."""
    scores = np.asarray(scores, dtype=float)
    n, k = scores.shape
    if n < 2 or k < 2:
        raise ValueError(f"Need at least 2 masks and 2 seeds; got a {n} x {k} table.")
    grand = scores.mean()
    rows, columns = scores.mean(axis=1), scores.mean(axis=0)
    between = k * np.sum((rows - grand) ** 2) / (n - 1)
    seeds = n * np.sum((columns - grand) ** 2) / (k - 1)
    within = np.sum((scores - rows[:, None]) ** 2) / (n * (k - 1))
    residual = np.sum((scores - rows[:, None] - columns[None, :] + grand) ** 2) / ((n - 1) * (k - 1))
    return {"between": between, "seeds": seeds, "within": within, "residual": residual, "n": n, "k": k}


def icc1(scores: np.ndarray) -> float:
    """ICC(1): the mask's share of one score's variance, seeds not shared (one-way random effects)."""
    ms = mean_squares(scores)
    denominator = ms["between"] + (ms["k"] - 1) * ms["within"]
    return float((ms["between"] - ms["within"]) / denominator) if denominator > 0 else float("nan")


def icc_consistency(scores: np.ndarray) -> float:
    """ICC(3,1): the mask's share once each seed's common effect is removed (two-way, consistency)."""
    ms = mean_squares(scores)
    denominator = ms["between"] + (ms["k"] - 1) * ms["residual"]
    return float((ms["between"] - ms["residual"]) / denominator) if denominator > 0 else float("nan")


def components(scores: np.ndarray, common: bool) -> dict:
    """Standard deviations of an (n masks, k seeds) table and its reliability.

    ``seed_sd``: of a mask's scores over seeds (pooled within masks);
    ``mask_sd``: of the mask means; ``icc``: ICC(1), or ICC(3,1) with
    ``common``; with ``common`` also ``seed_effect_sd`` (of the seed means)
    and ``residual_sd`` (what is left once mask and seed are taken out), and
    ``paired_sd``: the standard deviation of the difference of two masks
    trained with the same seed.
    """
    scores = np.asarray(scores, dtype=float)
    ms = mean_squares(scores)
    found = {
        "n_masks": ms["n"],
        "n_seeds": ms["k"],
        "seed_sd": float(np.sqrt(ms["within"])),
        "mask_sd": float(np.std(scores.mean(axis=1), ddof=1)),
        "icc": icc_consistency(scores) if common else icc1(scores),
    }
    if common:
        found.update(
            seed_effect_sd=float(np.std(scores.mean(axis=0), ddof=1)),
            residual_sd=float(np.sqrt(ms["residual"])),
            paired_sd=float(np.sqrt(2 * ms["residual"])),
        )
    else:
        found["paired_sd"] = float(np.sqrt(2 * ms["within"]))
    return found
