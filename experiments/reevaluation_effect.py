"""What the final re-evaluation changes, paired by seed: the chosen mask against the search's own best.

A run with ``[fitness] reevaluate = K`` records both choices in its ``summary.json``: the search's best by
logged fitness (``search_best_*``) and the mask with the best mean of R fresh trainings (the shipped one).
The search is the same either way, so each seed gives one paired difference, chosen minus search best, of
test and hold-out accuracy (and of the fresh validation mean, which the choice maximises by construction).
Printed and written per encoding: mean difference in points, 95% t interval, p-values, Holm over the table;
also how far the logged fitness of each choice sits above its own fresh mean (the winner's curse).

    python experiments/reevaluation_effect.py /work/campaigns/reeval60 --out results/reevaluation
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import numpy as np
import pandas as pd

from evoprune_deap.report.statistics import holm_table, paired_statistics
from evoprune_deap.report.tables import write_csvs

PAIRS = {  # figure -> (chosen's field, search best's field)
    "test_accuracy": ("test_accuracy", "search_best_test_accuracy"),
    "holdout_accuracy": ("holdout_accuracy", "search_best_holdout_accuracy"),
    "fresh_val": ("reevaluated_fitness", "search_best_reevaluated_fitness"),
    "n_active": ("n_active", "search_best_n_active"),
}


def read_runs(root: str) -> pd.DataFrame:
    """One row per finished run with a re-evaluation: its encoding, seed and both choices' figures."""
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "*", "seed*", "summary.json"))):
        with open(path) as stream:
            summary = json.load(stream)
        if "search_best_test_accuracy" not in summary:
            continue
        row = {"encoding": summary["encoding"], "seed": summary["seed"]}
        row["curse_chosen"] = summary["logged_fitness"] - summary["reevaluated_fitness"]
        row["curse_search_best"] = summary["search_best_fitness"] - summary["search_best_reevaluated_fitness"]
        row["changed"] = summary["n_active"] != summary["search_best_n_active"]
        for figure, (chosen, best) in PAIRS.items():
            row[f"{figure}_chosen"], row[f"{figure}_search_best"] = summary[chosen], summary[best]
        rows.append(row)
    return pd.DataFrame(rows)


def differences(runs: pd.DataFrame) -> pd.DataFrame:
    """Chosen minus search best per encoding and figure, in points, with Holm over the table."""
    rows = []
    for encoding, group in runs.groupby("encoding"):
        for figure in ("test_accuracy", "holdout_accuracy", "fresh_val"):
            difference = 100 * (group[f"{figure}_chosen"] - group[f"{figure}_search_best"]).to_numpy(float)
            stats = paired_statistics(difference)
            rows.append({"encoding": encoding, "figure": figure, "n_seeds": len(group), **stats})
        rows[-1]["changed_choices"] = int(group["changed"].sum())
    return holm_table(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("campaign", help="a campaign folder: <encoding>/seed<k>/summary.json")
    parser.add_argument("--out", help="folder for runs.csv and differences.csv")
    args = parser.parse_args(argv)
    runs = read_runs(args.campaign)
    if runs.empty:
        raise SystemExit(f"No finished run with a final re-evaluation under {args.campaign!r}.")
    table = differences(runs)
    pd.set_option("display.width", 160)
    print("chosen minus the search's best, points, paired by seed (95% t interval, Holm over the table)")
    print(table.round(3).to_string(index=False))
    curse = 100 * runs.groupby("encoding")[["curse_search_best", "curse_chosen"]].mean()
    print("\nlogged fitness minus its fresh mean, points (the winner's curse of each choice)")
    print(curse.to_string(float_format=lambda v: f"{v:+.2f}"))
    if args.out:
        written = write_csvs(args.out, {"runs": runs, "differences": table})
        print("\nwritten: " + ", ".join(written), file=sys.stderr)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
