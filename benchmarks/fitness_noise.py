"""How much of a mask's fitness is the mask's: N masks x S seeds, per-mask and common seeds, on real features.

Masks: random ones whose active count runs from a single unit (or input, for ``fs``) to all of them
(log-spaced), the unpruned head, and, with ``--run RUN_DIR``, the five best masks of a finished run
and the members of its front (``front.csv``). Each mask's head is trained with S seeds, twice:

- per-mask seeds (seed s of a mask derives from its bits), as the toolkit's default fitness does;
- common seeds (seed s is the same for every mask: the same full-width initial draw, sliced, and the
  same epoch shuffles), as the authors' fitness does.

Printed, for validation accuracy (what the fitness reads) and test accuracy, over all masks and per
density band: the seed standard deviation, the between-mask standard deviation of the mask means,
the reliability (ICC(1) for per-mask seeds; ICC(3,1), consistency, for common seeds: the mask's share
once the shared seed is taken out; evoprune_deap.report.reliability), and the standard deviation of
the difference between two masks (paired by seed under common seeds). With ``--run``, the winner's
curse: the run's best masks, their logged fitness against the mean of S fresh trainings.

    python benchmarks/fitness_noise.py --dataset elpv --encoding fc1 --masks 14 --seeds 4 \\
        --run results/audit/elpv/honest/fc1/seed0 --out results/noise/elpv_fc1
    python benchmarks/fitness_noise.py --dataset fashion-mnist --image-size 64 --train-subset 3000 \\
        --encoding fc1 --out results/noise/fashion_mnist_fc1
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

import evoprune_deap  # noqa: F401  (sets the Keras backend)
from evoprune_deap.config import HeadConfig, from_dict
from evoprune_deap.data.loading import load_feature_set
from evoprune_deap.head.masks import Encoding
from evoprune_deap.head.trainer import HeadTrainer
from evoprune_deap.report.reliability import components
from evoprune_deap.search.bits import mask_from_hex, mask_hash, mask_key
from evoprune_deap.seeding import derive_seed

BANDS = ((0.0, 0.02), (0.02, 0.1), (0.1, 1.0))
"""Density bands (share of active bits, upper bound included) reported apart."""


def random_masks(n_bits: int, n: int, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    counts = np.unique(np.round(np.geomspace(1, n_bits, n)).astype(int))
    masks = []
    for count in counts:
        mask = np.zeros(n_bits, dtype=bool)
        mask[rng.permutation(n_bits)[:count]] = True
        masks.append(("random", mask))
    return masks


def run_masks(run_dir: str) -> list[tuple[str, np.ndarray, float]]:
    """A finished run's five best masks (by logged fitness) and its front's members, with their fitness."""
    found = []
    log = pd.read_csv(os.path.join(run_dir, "evaluations.csv"))
    for _, row in log.sort_values(["fitness", "n_active"], ascending=[False, True]).head(5).iterrows():
        found.append(("run best", mask_from_hex(row["mask"]), float(row["fitness"])))
    front = os.path.join(run_dir, "front.csv")
    if os.path.exists(front):
        for _, row in pd.read_csv(front).iterrows():
            found.append(("front", mask_from_hex(row["mask"]), float(row["accuracy"])))
    return found


def score(trainer: HeadTrainer, encoding: Encoding, masks: list, arrays: dict, seeds_of) -> np.ndarray:
    """(n masks, S seeds, 3): validation and test accuracies and the epochs each head trained (the stopping
    rule's, at most ``max_epochs``); ``seeds_of(i, mask)`` gives a mask's S seeds."""
    (x, y), val, test = arrays["train"], arrays["val"], arrays["test"]
    per_mask = [seeds_of(i, mask) for i, mask in enumerate(masks)]
    out = np.empty((len(masks), len(per_mask[0]), 3))
    for s in range(len(per_mask[0])):
        heads = trainer.train_many(
            [encoding.head_masks(m) for m in masks], x, y, [seeds[s] for seeds in per_mask]
        )
        for i, head in enumerate(heads):
            out[i, s] = head.accuracy(*val), head.accuracy(*test), len(head.losses)
    return out


def summary_rows(table: np.ndarray, density: np.ndarray, scheme: str) -> list[dict]:
    rows = []
    for part, column in (("val", 0), ("test", 1)):
        groups = [("all", np.ones(len(density), bool))] + [
            (f"({low:.0%}, {high:.0%}]", (density > low) & (density <= high)) for low, high in BANDS
        ]
        for name, chosen in groups:
            if chosen.sum() < 2:
                continue
            found = components(table[chosen, :, column], common=scheme == "common")
            rows.append(
                {
                    "seeds": scheme,
                    "part": part,
                    "masks": name,
                    **found,
                    "mean": float(table[chosen, :, column].mean()),
                }
            )
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="elpv")
    parser.add_argument("--features", help="a feature cache instead of --dataset")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--train-subset", type=int)
    parser.add_argument("--encoding", default="fc1", choices=["fc1", "fc2", "both", "fs"])
    parser.add_argument("--masks", type=int, default=14, help="random masks (log-spaced active counts)")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument(
        "--epochs",
        type=int,
        nargs="+",
        default=[60],
        help="training budgets (max epochs, the paper's stopping rule below it), e.g. 60 600: side by side",
    )
    parser.add_argument(
        "--run", help="a finished run: its best masks and front members, and the winner's curse"
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed of the masks and trainings")
    parser.add_argument("--out", help="folder for scores.csv and summary.csv")
    return parser.parse_args(argv)


def load_entries(args, encoding: Encoding) -> list[tuple[str, np.ndarray, float]]:
    """(kind, mask, logged fitness): the random masks, the unpruned head, and a run's best and front."""
    rng = np.random.default_rng(args.seed)
    entries = [(kind, mask, np.nan) for kind, mask in random_masks(encoding.n_bits, args.masks, rng)]
    entries.append(("unpruned", encoding.full_mask(), np.nan))
    return entries + (run_masks(args.run) if args.run else [])


def score_tables(args, features, encoding: Encoding, masks: list, max_epochs: int) -> dict:
    """The (masks, seeds, 3) tables of both seed rules at one training budget."""
    config = HeadConfig(hidden_units=encoding.hidden_units, max_epochs=max_epochs)
    trainer = HeadTrainer(features.n_features, features.n_classes, config)
    arrays = features.arrays()
    return {
        "per-mask": score(
            trainer,
            encoding,
            masks,
            arrays,
            lambda i, m: [derive_seed(args.seed, "noise", mask_key(m), s) for s in range(args.seeds)],
        ),
        "common": score(
            trainer,
            encoding,
            masks,
            arrays,
            lambda i, m: [derive_seed(args.seed, "noise-common", s) for s in range(args.seeds)],
        ),
    }


def score_rows(entries, density, tables: dict, max_epochs: int) -> list[dict]:
    """One row per mask x seed rule x seed: accuracies, the epochs trained and the budget."""
    rows = []
    for i, ((kind, mask, logged), d) in enumerate(zip(entries, density)):
        for scheme, table in tables.items():
            for s in range(table.shape[1]):
                rows.append(
                    {
                        "kind": kind,
                        "mask_hash": mask_hash(mask),
                        "n_active": int(mask.sum()),
                        "density": float(d),
                        "max_epochs": max_epochs,
                        "seeds": scheme,
                        "seed": s,
                        "val_accuracy": table[i, s, 0],
                        "test_accuracy": table[i, s, 1],
                        "epochs": int(table[i, s, 2]),
                        "logged_fitness": logged,
                    }
                )
    return rows


def print_summary(summary: pd.DataFrame) -> None:
    shown = summary.copy()
    for column in ("seed_sd", "mask_sd", "paired_sd", "seed_effect_sd", "residual_sd", "mean"):
        if column in shown:
            shown[column] = 100 * shown[column]  # points
    print("standard deviations and means in accuracy points; icc: ICC(1) per-mask, ICC(3,1) common")
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


def print_side_by_side(summary: pd.DataFrame, scores: pd.DataFrame) -> None:
    """The budgets' seed sd, ICC and mean next to each other, and the epochs heads trained."""
    keys = ["seeds", "part", "masks"]
    shown = summary.assign(seed_sd=100 * summary["seed_sd"], mean=100 * summary["mean"])
    wide = shown.pivot_table(index=keys, columns="max_epochs", values=["seed_sd", "icc", "mean"], sort=False)
    print("\nside by side (points; columns: max epochs)")
    print(wide.to_string(float_format=lambda v: f"{v:.2f}"))
    epochs = scores.groupby(["max_epochs", "seeds"])["epochs"].describe()[["min", "50%", "max"]]
    print(
        "\nepochs each head trained (the paper's stopping rule: training loss, min_delta 1e-5, patience 10)"
    )
    print(epochs.to_string(float_format=lambda v: f"{v:.0f}"))


def print_curse(scores: pd.DataFrame, n_seeds: int) -> None:
    run = scores[(scores["kind"] == "run best") & (scores["seeds"] == "per-mask")]
    curse = run.groupby(["max_epochs", "mask_hash"]).agg(
        n_active=("n_active", "first"),
        logged=("logged_fitness", "first"),
        fresh_val=("val_accuracy", "mean"),
        fresh_test=("test_accuracy", "mean"),
    )
    curse["curse_points"] = 100 * (curse["logged"] - curse["fresh_val"])
    print(
        "\nwinner's curse: the run's 5 best masks, logged fitness vs the mean of fresh trainings "
        f"({n_seeds} per-mask seeds)"
    )
    print(curse.sort_values("logged", ascending=False).to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"mean curse: {curse['curse_points'].mean():+.2f} points")


def main(argv=None) -> None:
    args = parse_args(argv)
    data = (
        {"features": args.features}
        if args.features
        else {
            "dataset": args.dataset,
            "image_size": args.image_size,
            **({"train_subset": args.train_subset} if args.train_subset else {}),
        }
    )
    features = load_feature_set(from_dict({"data": data}))
    hidden = (512,) if args.encoding == "fs" else (512, 512)
    encoding = Encoding(args.encoding, features.n_features, hidden)
    entries = load_entries(args, encoding)
    masks = [mask for _, mask, _ in entries]
    density = np.array([mask.mean() for mask in masks])
    rows, summaries = [], []
    for max_epochs in args.epochs:
        started = time.perf_counter()
        tables = score_tables(args, features, encoding, masks, max_epochs)
        seconds = time.perf_counter() - started
        n_train, n_val, n_test = (len(features.arrays()[part][1]) for part in ("train", "val", "test"))
        print(
            f"{features.metadata.get('source')} {args.encoding}: {len(masks)} masks x {args.seeds} seeds x 2 "
            f"seed rules, at most {max_epochs} epochs, {n_train} train / {n_val} val / {n_test} test "
            f"(one validation image = {100 / n_val:.2f} points); {seconds:.0f} s"
        )
        summary = pd.DataFrame(
            [row for scheme, table in tables.items() for row in summary_rows(table, density, scheme)]
        ).assign(max_epochs=max_epochs)
        print_summary(summary)
        summaries.append(summary)
        rows += score_rows(entries, density, tables, max_epochs)
    scores, summary = pd.DataFrame(rows), pd.concat(summaries, ignore_index=True)
    if len(args.epochs) > 1:
        print_side_by_side(summary, scores)
    if args.run:
        print_curse(scores, args.seeds)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        scores.to_csv(os.path.join(args.out, "scores.csv"), index=False)
        summary.to_csv(os.path.join(args.out, "summary.csv"), index=False)


if __name__ == "__main__":
    main()
