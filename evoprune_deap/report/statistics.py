"""Paired comparisons of the GA with each baseline, seed by seed (scipy.stats).

A campaign runs the GA and every baseline on the same seeds, splits and head
settings, so each seed gives one difference ``GA - baseline``. Over the seeds
:func:`paired_differences` reports the mean difference, a two-sided Student-t
confidence interval of the mean (``CONFIDENCE``), the paired t-test p-value
(``scipy.stats.ttest_1samp`` of the differences, the same as ``ttest_rel`` of
the pairs), the Wilcoxon signed-rank p-value as a check that does not assume
normal differences, the t-test p-values Holm-adjusted across the whole table
(``p_holm``, statsmodels' ``multipletests``), and a verdict: an interval that
covers zero is "no detectable difference".
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..records.summary import METHODS

CONFIDENCE = 0.95
MIN_SEEDS = 3
"""Fewer seeds give no interval: with 2, the t interval is 12.7 standard errors wide either side."""
ROUNDING = 12
"""Decimals kept of each paired difference."""
GROUP = ["dataset", "protocol", "encoding"]
NO_DIFFERENCE = "no detectable difference"
TOO_FEW = "too few seeds"
COLUMNS = [
    *GROUP,
    "reference",
    "method",
    "metric",
    "n_seeds",
    "mean_difference",
    "ci_low",
    "ci_high",
    "p_value",
    "p_wilcoxon",
    "verdict",
]
"""The columns of :func:`paired_differences`' table (then ``p_holm``)."""


def paired_differences(
    runs: pd.DataFrame, metric: str = "test_accuracy", reference=("ga", "nsga2")
) -> pd.DataFrame:
    """GA minus each other method, paired by seed, per dataset x protocol x encoding.

    Parameters
    ----------
    runs : DataFrame
        One row per (run, method), as :func:`evoprune_deap.report.tables.collect`
        gives: ``dataset``, ``protocol``, ``encoding``, ``seed``, ``method``
        and ``metric``.
    metric : str
        The column compared (test accuracy by default).
    reference : str or sequence of str
        The method the others are subtracted from: per group, the first
        present (the GA, else a multi-objective run's ``nsga2``), named in
        the ``reference`` column and the verdict.

    Returns
    -------
    DataFrame
        One row per group and method: ``n_seeds``, ``mean_difference``,
        ``ci_low``, ``ci_high`` (t interval), ``p_value`` (paired t),
        ``p_wilcoxon`` and ``verdict``. Seeds where either side is missing
        are left out; fewer than :data:`MIN_SEEDS` seeds give NaN statistics
        and "too few seeds"; the same difference in every seed gives a point
        interval and no t-test p-value.
    """
    rows = []
    for key, group in runs.groupby(GROUP, sort=False):
        wide = group.pivot_table(index="seed", columns="method", values=metric, aggfunc="mean")
        ref = next(
            (r for r in ([reference] if isinstance(reference, str) else reference) if r in wide.columns), None
        )
        if ref is None:
            continue
        for method in [m for m in METHODS if m != ref and m in wide.columns]:
            pair = wide[[ref, method]].dropna()
            # Accuracies are counts over a fixed set: equal differences must not differ by float noise
            # (a spread of 1e-17 would give a "significant" p of 0).
            difference = np.round((pair[ref] - pair[method]).to_numpy(dtype=float), ROUNDING)
            figures = paired_statistics(difference)
            rows.append(
                {
                    **dict(zip(GROUP, key)),
                    "reference": ref,
                    "method": method,
                    "metric": metric,
                    "n_seeds": difference.size,
                    **figures,
                    "verdict": verdict(figures["ci_low"], figures["ci_high"], ref),
                }
            )
    return holm_table(rows, COLUMNS)


def holm_table(rows: list[dict], columns=None) -> pd.DataFrame:
    """Rows of :func:`paired_statistics` (and their labels) as a table, with ``p_holm``: Holm over the
    whole table, one family."""
    table = pd.DataFrame(rows, columns=columns)
    table["p_holm"] = holm(table["p_value"].to_numpy(dtype=float))
    return table


def paired_statistics(difference: np.ndarray) -> dict:
    """``mean_difference``, ``ci_low``, ``ci_high`` (t interval), ``p_value`` (t-test) and ``p_wilcoxon`` of
    one method's paired differences (NaN with fewer than :data:`MIN_SEEDS`; the same difference in every
    seed: a point interval and no t-test p-value)."""
    from scipy import stats

    n = difference.size
    mean = float(difference.mean()) if n else float("nan")
    low = high = p_t = p_w = float("nan")
    if n >= MIN_SEEDS:
        spread = stats.sem(difference)
        if spread < 1e-9:  # the same difference in every seed (to float noise): a point interval, no t-test
            low = high = mean
        else:
            low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=spread)
            p_t = float(stats.ttest_1samp(difference, 0.0).pvalue)  # = ttest_rel of the pairs
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # scipy: exact p for small n
            p_w = float(stats.wilcoxon(difference).pvalue) if np.any(difference != 0) else 1.0
    return {
        "mean_difference": mean,
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": p_t,
        "p_wilcoxon": p_w,
    }


def holm(p_values: np.ndarray, alpha: float = 1 - CONFIDENCE) -> np.ndarray:
    """Holm-adjusted p-values of every finite p in ``p_values`` as one family (statsmodels); NaN stays NaN.

    A table compares the GA with every baseline in every group: this is the
    correction across that whole table.
    """
    from statsmodels.stats.multitest import multipletests

    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(p_values.shape, np.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        adjusted[finite] = multipletests(p_values[finite], alpha=alpha, method="holm")[1]
    return adjusted


def verdict(low: float, high: float, reference: str = "ga") -> str:
    """What a confidence interval of ``reference - other`` says."""
    if np.isnan(low) or np.isnan(high):
        return TOO_FEW
    if low <= 0 <= high:
        return NO_DIFFERENCE
    return f"{reference} higher" if low > 0 else f"{reference} lower"


def difference_cell(row) -> str:
    """``"Δ +0.3 pt [-0.5, +1.1], p=0.41"`` (accuracy points) for a table cell."""
    if row["n_seeds"] < MIN_SEEDS:
        return f"Δ {100 * row['mean_difference']:+.1f} pt (n={row['n_seeds']})"
    p = "" if np.isnan(row["p_value"]) else f", p={row['p_value']:.2g}"
    if "p_holm" in row and not np.isnan(row["p_holm"]):
        p += f" (Holm {row['p_holm']:.2g})"
    return (
        f"Δ {100 * row['mean_difference']:+.1f} pt "
        f"[{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]{p}"
    )
