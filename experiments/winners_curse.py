"""The winner's curse of finished runs: their K best masks trained R more times from fresh seeds.

A run made without ``--reevaluate`` reports its search's best logged fitness, the maximum of many noisy
scores. This script re-evaluates such runs after the fact, exactly as ``[fitness] reevaluate = K`` and
``final_repeats = R`` would have at their end (the same candidates, fresh derived seeds the search never
used, the same validation data), in a copy of each run directory (``OUT/<encoding>/seed<k>/``, with its
``reevaluation.csv``): the finished runs are not touched. Printed and written (``OUT/curse.csv``), per run:
the search's best logged fitness, its fresh mean, their difference (the curse), and the mask the fresh means
would choose instead.

    python experiments/winners_curse.py results/fitness_paper_budget/elpv \
        --out results/fitness_paper_budget/curse
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil

import pandas as pd

from evoprune_deap.data.loading import load_feature_set
from evoprune_deap.evaluation.setup import cluster_for, make_fitness
from evoprune_deap.records.directory import RunDirectory
from evoprune_deap.report.tables import write_csvs
from evoprune_deap.run.reevaluation import reevaluate

RUN_FILES = ("config.toml", "evaluations.csv", "best_mask.json", "summary.json")


def copy_run(run_dir: str, out: str) -> RunDirectory:
    """The files a re-evaluation reads, copied to ``out`` (kept: a second call resumes there)."""
    os.makedirs(out, exist_ok=True)
    for name in RUN_FILES:
        if not os.path.exists(os.path.join(out, name)):
            shutil.copy2(os.path.join(run_dir, name), out)
    return RunDirectory(out)


def curse(run_dir: str, out: str, k: int, repeats: int, workers: int) -> dict:
    """Re-evaluate one finished run's ``k`` best masks ``repeats`` times in a copy under ``out``."""
    directory = copy_run(run_dir, out)
    config = directory.read_config().replace(run={"workers": workers})
    summary = directory.read_summary()
    features = load_feature_set(config)
    with cluster_for(config) as client:
        outcome = reevaluate(
            make_fitness(config, features, client), directory, directory.read_best_mask(), k, repeats
        )
    first, chosen = outcome.rows[0], outcome.rows[outcome.chosen]  # row 0: the search's best
    return {
        "encoding": summary.encoding,
        "seed": summary.seed,
        "logged": first["logged_fitness"],
        "fresh_mean": first["fresh_mean"],
        "curse_points": 100 * (first["logged_fitness"] - first["fresh_mean"]),
        "chosen_candidate": outcome.chosen + 1,
        "chosen_logged": chosen["logged_fitness"],
        "chosen_fresh_mean": chosen["fresh_mean"],
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("campaign", help="a campaign folder of finished runs: <encoding>/seed<k>/")
    parser.add_argument("--out", required=True, help="folder for the copies and curse.csv")
    parser.add_argument("--k", type=int, default=5, help="candidates per run (default 5)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh trainings per candidate (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="local Dask workers (default 2)")
    args = parser.parse_args(argv)
    runs = sorted(
        os.path.dirname(p) for p in glob.glob(os.path.join(args.campaign, "*", "seed*", "summary.json"))
    )
    if not runs:
        raise SystemExit(f"No finished run (<encoding>/seed<k>/summary.json) under {args.campaign!r}.")
    rows = []
    for run in runs:
        name = os.path.relpath(run, args.campaign)
        rows.append(curse(run, os.path.join(args.out, name), args.k, args.repeats, args.workers))
        print(pd.DataFrame(rows[-1:]).round(4).to_string(index=False, header=len(rows) == 1), flush=True)
    table = pd.DataFrame(rows)
    write_csvs(args.out, {"curse": table})
    print("\nmean curse, points: " + table.groupby("encoding")["curse_points"].mean().round(2).to_string())


if __name__ == "__main__":
    main()
