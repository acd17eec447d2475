"""The table of multi-objective runs: hypervolume, front, chosen members and ensembles against the unpruned
head.

One row per run with a ``front.csv`` (and a mean row per dataset x encoding
x protocol): the front's most accurate member and its knee (chosen on the
GA's accuracy, reported on test), the ensembles built with ``evoprune
ensemble`` (read from ``<run>/ensemble/*.json``, one column group per
window, e.g. ``ensemble_85-95_test_accuracy``), the unpruned head and the
linear probe on the same test set, with test OOD AUROC where the run had OOD
images.
"""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pandas as pd

from ..records.directory import RunDirectory
from ..search.ranking import best_index, knee_index


def pareto_rows(run_dirs) -> pd.DataFrame:
    """One row per multi-objective run among ``run_dirs`` (finished run directories); empty if none."""
    rows = []
    for run_dir in run_dirs:
        directory = RunDirectory(run_dir)
        if not directory.has(directory.FRONT):
            continue
        summary, front = directory.read_summary(), directory.read_front()
        best = front.iloc[best_index(front["accuracy"].tolist(), front["n_active"].tolist())]
        knee = front.iloc[knee_index(front["active_percent"].to_numpy(), front["accuracy"].to_numpy())]
        row = {
            "dataset": summary.source,
            "encoding": summary.encoding,
            "protocol": summary.protocol,
            "seed": summary.seed,
            "objectives": ",".join(summary.objectives or ()),
            "evaluations": summary.evaluations,
            "hypervolume": summary.hypervolume,
            "front_size": len(front),
        }
        for name, member in (("most_accurate", best), ("knee", knee)):
            row.update(
                {
                    f"{name}_active_percent": member["active_percent"],
                    f"{name}_accuracy": member["accuracy"],
                    f"{name}_test_accuracy": member["test_accuracy"],
                    f"{name}_test_ood_auroc": member["test_ood_auroc"],
                }
            )
        for path in sorted(glob.glob(os.path.join(run_dir, "ensemble", "*.json"))):
            with open(path) as stream:
                ensemble = json.load(stream)
            name = "ensemble_" + "-".join(f"{v:g}" for v in ensemble["window"])
            row.update(
                {
                    f"{name}_members": len(ensemble["members"]),
                    f"{name}_test_accuracy": ensemble["test_accuracy"],
                    f"{name}_test_ood_auroc": ensemble["test_ood_auroc"],
                }
            )
        row.update(
            {
                "unpruned_test_accuracy": summary.unpruned_test_accuracy,
                "unpruned_test_ood_auroc": summary.unpruned_test_ood_auroc,
            }
        )
        if directory.has(directory.FRONT_BASELINES):
            baselines = pd.read_csv(directory.file(directory.FRONT_BASELINES))
            probe = baselines[baselines["method"] == "linear_probe"]
            row["linear_probe_test_accuracy"] = probe["test_accuracy"].iloc[0] if len(probe) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


KEYS = ["dataset", "encoding", "protocol", "objectives"]


def pareto_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-run rows followed by a mean row per dataset x encoding x protocol x objectives (seed "mean")."""
    if rows.empty:
        return rows
    numeric = [c for c in rows.columns if c not in KEYS + ["seed"]]
    means = rows.groupby(KEYS, sort=True)[numeric].mean().reset_index()
    means["seed"] = "mean"
    table = pd.concat([rows.astype({"seed": object}), means], ignore_index=True)
    return table.sort_values(KEYS, kind="stable").set_index(KEYS + ["seed"]).round(4)


def front_runs(run_dirs) -> pd.DataFrame:
    """The front against the one-shot baselines at the same sparsity, as
    :func:`~evoprune_deap.report.tables.collect` rows: per multi-objective run, method ``nsga2`` is the mean
    test (and hold-out) accuracy of the front members
    the baselines were scored at (``front_baselines.csv``: members spread along the front), and each pruning
    baseline the mean of its scores at those members' sparsities; so per seed, nsga2 minus a baseline is the
    mean of member-minus-baseline at equal sparsity. Empty without such runs."""
    rows = []
    for run_dir in run_dirs:
        directory = RunDirectory(run_dir)
        if not (directory.has(directory.FRONT) and directory.has(directory.FRONT_BASELINES)):
            continue
        summary, front = directory.read_summary(), directory.read_front().set_index("mask_hash")
        baselines = pd.read_csv(directory.file(directory.FRONT_BASELINES))
        pruned = baselines[~baselines["method"].isin(["unpruned", "linear_probe"])]
        members = front.loc[pruned["front_member"].unique()]
        base = {
            "run_dir": run_dir,
            "dataset": summary.source,
            "encoding": summary.encoding,
            "seed": summary.seed,
            "protocol": summary.protocol,
        }
        holdout = members["holdout_accuracy"].mean() if "holdout_accuracy" in members else np.nan
        rows.append(
            {
                **base,
                "method": "nsga2",
                "test_accuracy": members["test_accuracy"].mean(),
                "holdout_accuracy": holdout,
                "active_percent": members["active_percent"].mean(),
            }
        )
        for method, group in pruned.groupby("method", sort=False):
            rows.append(
                {
                    **base,
                    "method": method,
                    "test_accuracy": group["test_accuracy"].mean(),
                    "holdout_accuracy": group["holdout_accuracy"].mean()
                    if "holdout_accuracy" in group
                    else np.nan,
                    "active_percent": group["active_percent"].mean(),
                }
            )
    return pd.DataFrame(rows)
