"""Rescore the front members of multi-objective runs with other OOD confidence scores (test halves).

    python experiments/ood_scores.py results/pareto/elpv/nsga2/seed* --out results/pareto/elpv/ood_scores.csv

Each member is retrained from its seed once (as fitness did); its test images and the OOD test half
are then scored by MSP at T = 1000 (the run's objective), MSP at T = 1, and the energy score at T = 1.
Answers whether a weak OOD AUROC comes from the score or from the heads.
"""

import argparse
import sys

import pandas as pd

from evoprune_deap.head.forward import head_logits
from evoprune_deap.head.ood import confidence, ood_auroc
from evoprune_deap.shipping.members import FinishedFront

SCORES = {"msp_T1000": ("msp", 1000.0), "msp_T1": ("msp", 1.0), "energy_T1": ("energy", 1.0)}


def rescore(run_dir: str) -> pd.DataFrame:
    run = FinishedFront.open(run_dir)
    rows = list(range(len(run.front)))
    masks = run.masks(rows)
    fitness, encoding = run.fitness, run.fitness.encoding
    x_test = fitness.feature_set.arrays(0)["test"][0]
    outside = fitness.feature_set.ood["test"]
    table = []
    for row, mask, score in zip(rows, masks, fitness.score_many(masks, with_test=True)):
        head = encoding.head_masks(mask)
        logits = head_logits(score.weights, head, x_test), head_logits(score.weights, head, outside)
        entry = {
            "run": run_dir,
            "seed": run.config.run.seed,
            "member": run.front["mask_hash"].iloc[row],
            "active_percent": run.front["active_percent"].iloc[row],
            "test_accuracy": score.test_accuracy,
        }
        for name, (kind, temperature) in SCORES.items():
            entry[name] = ood_auroc(*(confidence(z, kind, temperature) for z in logits))
        table.append(entry)
    return pd.DataFrame(table)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+")
    parser.add_argument("--out", required=True, help="CSV file")
    args = parser.parse_args(argv)
    table = pd.concat([rescore(run_dir) for run_dir in args.run_dirs], ignore_index=True)
    table.round(4).to_csv(args.out, index=False)
    print(table.groupby("seed")[list(SCORES)].agg(["mean", "max"]).round(3).to_string())
    print("all members:", table[list(SCORES)].mean().round(3).to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
