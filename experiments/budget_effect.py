"""What the paper's training budget changes, paired by seed: the same campaign at 60 and at 600 epochs.

Two campaigns of one TOML that differ only in ``--max-epochs`` hold the same data, seeds and GA budget, so
each (encoding, seed) gives one pair. For test and hold-out accuracy, per encoding: the GA's head at the long
budget minus at the short one, the unpruned head's likewise, and the difference of the two (does the GA
gain more over the unpruned head when heads train longer, as pruning-as-regularisation would predict?).
Mean in points, 95% t interval, t-test p-value, Holm over the table. A short-budget run with a final
re-evaluation counts the search's own best (``search_best_*``), which is what a run without one ships.

    python experiments/budget_effect.py results/fitness_reevaluation/elpv results/fitness_paper_budget/elpv \
        --out results/fitness_paper_budget/budget_effect
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import pandas as pd

from evoprune_deap.report.statistics import holm_table, paired_statistics
from evoprune_deap.report.tables import write_csvs

FIGURES = ("test_accuracy", "holdout_accuracy")


KEYS = ["source", "encoding", "seed"]


def read_runs(root: str) -> pd.DataFrame:
    """One row per finished run: dataset, encoding, seed, the GA's (search's best) and the unpruned head's
    figures (NaN where a run has no hold-out)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "*", "seed*", "summary.json"))):
        with open(path) as stream:
            summary = json.load(stream)
        row = {key: summary[key] for key in KEYS}
        searched = "search_best_test_accuracy" in summary  # a run with a final re-evaluation
        row["n_active"] = summary["search_best_n_active" if searched else "n_active"]
        for figure in FIGURES:
            row[f"ga_{figure}"] = summary.get(f"search_best_{figure}" if searched else figure)
            row[f"unpruned_{figure}"] = summary.get(f"unpruned_{figure}")
        rows.append(row)
    columns = [*KEYS, "n_active", *(f"{head}_{figure}" for figure in FIGURES for head in ("ga", "unpruned"))]
    return pd.DataFrame(rows, columns=columns).astype({column: float for column in columns[3:]})


def paired(short: pd.DataFrame, long: pd.DataFrame) -> pd.DataFrame:
    """The runs of both campaigns side by side, one row per (dataset, encoding, seed) finished in both."""
    return short.merge(long, on=KEYS, suffixes=("_short", "_long"), validate="one_to_one")


def differences(pairs: pd.DataFrame) -> pd.DataFrame:
    """Long minus short budget, in points, per encoding x figure x head (ga, unpruned, ga minus unpruned);
    a figure some run lacks (no hold-out) is left out."""
    rows = []
    for encoding, group in pairs.groupby("encoding"):
        for figure in [f for f in FIGURES if group[[f"ga_{f}_short", f"ga_{f}_long"]].notna().all(axis=None)]:
            change = {
                head: 100 * (group[f"{head}_{figure}_long"] - group[f"{head}_{figure}_short"]).to_numpy(float)
                for head in ("ga", "unpruned")
            }
            change["ga_minus_unpruned"] = change["ga"] - change["unpruned"]
            for head, values in change.items():
                stats = paired_statistics(values)
                rows.append(
                    {"encoding": encoding, "figure": figure, "head": head, "n_seeds": len(group), **stats}
                )
    return holm_table(rows)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("short", help="the campaign at the short budget: <encoding>/seed<k>/summary.json")
    parser.add_argument("long", help="the same campaign at the long budget")
    parser.add_argument("--out", help="folder for pairs.csv and differences.csv")
    args = parser.parse_args(argv)
    pairs = paired(read_runs(args.short), read_runs(args.long))
    if pairs.empty:
        raise SystemExit(f"No (dataset, encoding, seed) finished in both {args.short!r} and {args.long!r}.")
    table = differences(pairs)
    pd.set_option("display.width", 160)
    print("long minus short budget, points, paired by seed (95% t interval, Holm over the table)")
    print(table.round(3).to_string(index=False))
    active = pairs.groupby("encoding")[["n_active_short", "n_active_long"]].mean()
    print(
        "\nthe GA's best mask, mean active units or inputs\n" + active.to_string(float_format="{:.0f}".format)
    )
    if args.out:
        written = write_csvs(args.out, {"pairs": pairs, "differences": table})
        print("\nwritten: " + ", ".join(written), file=sys.stderr)


if __name__ == "__main__":
    main()
