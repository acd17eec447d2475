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


DENSITY_BANDS = ((0.0, 0.02), (0.02, 0.1), (0.1, 1.0))
"""The density bands of ``benchmarks/fitness_noise.py`` (share of active bits, upper bound included)."""


def band_reliability(scores, part: str = "val") -> list[dict]:
    """ICC of each density band and seed rule, from a ``scores.csv`` of ``benchmarks/fitness_noise.py``.

    ``scores``: a DataFrame with ``kind``, ``mask_hash``, ``density``, ``seeds`` (``per-mask`` or ``common``),
    ``seed`` and ``<part>_accuracy``; one row per (mask, seed rule, seed). Returns one dict per band and
    rule: ``seeds``, ``low``, ``high``, ``n_masks`` and the :func:`components` of its (masks x seeds) table.
    """
    found = []
    for rule, rows in scores.groupby("seeds", sort=False):
        # the unpruned head and a random full mask are two rows, as in the benchmark
        masks = ["kind", "mask_hash"]
        table = rows.pivot_table(index=masks, columns="seed", values=f"{part}_accuracy")
        density = rows.groupby(masks)["density"].first().reindex(table.index)
        for low, high in DENSITY_BANDS:
            band = table[(density > low) & (density <= high)].dropna()
            if len(band) >= 2:
                found.append({"seeds": rule, "low": low, "high": high, **components(band, rule == "common")})
    return found


def plot_reliability(studies: dict, part: str = "val"):
    """Fitness reliability against density, one column per study (``{title: scores DataFrame}``).

    Top: every mask's scores (one dot per per-mask seed) and their mean, against its share of active
    bits; the spread of a column of dots is seed noise, the spread of the means is the mask's part.
    Bottom: ICC per density band, per-mask seeds (ICC(1)) and common seeds (ICC(3,1)).
    """
    from .plots import _pyplot

    plt = _pyplot()
    figure, axes = plt.subplots(
        2, len(studies), figsize=(4.2 * len(studies), 6.4), squeeze=False, sharex="col"
    )
    for column, (title, scores) in enumerate(studies.items()):
        top, bottom = axes[0, column], axes[1, column]
        own = scores[scores["seeds"] == "per-mask"]
        accuracy = 100 * own[f"{part}_accuracy"]
        top.scatter(own["density"], accuracy, s=8, alpha=0.35, color="grey", label="one seed")
        means = own.groupby(["kind", "mask_hash"]).agg(
            density=("density", "first"), score=(f"{part}_accuracy", "mean")
        )
        top.scatter(means["density"], 100 * means["score"], s=22, color="C0", label="mask mean")
        top.set(xscale="log", title=title, ylabel=f"{part} accuracy (%)")
        for rule, color in (("per-mask", "C0"), ("common", "C1")):
            for band in (b for b in band_reliability(scores, part) if b["seeds"] == rule):
                low = max(band["low"], means["density"].min() * 0.8)
                bottom.plot([low, band["high"]], [band["icc"]] * 2, color=color, linewidth=3)
            bottom.plot([], [], color=color, linewidth=3, label=f"{rule} seeds")
        bottom.axhline(0, color="black", linewidth=0.6)
        bottom.set(xscale="log", ylim=(-0.4, 1.05), xlabel="density (share of active bits)", ylabel="ICC")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    return figure
