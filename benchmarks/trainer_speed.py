"""The trainer against an older tree of evoprune-deap (a git worktree), side by side in one run.

Both trees train the same fc1 heads (ELPV 128 px cached features, 1280-512-512-4, densities spread
over [0.5, 1) like a GA population's dense half, one seed each) for a fixed number of epochs with
early stopping off. Each measurement runs in its own subprocess (one tree per process, one thread
of XLA per process is not forced: both get the machine as a run does), after a warm-up call that
compiles every shape; old and new alternate, ``--repeats`` times, and the medians are printed:
seconds per head-epoch of one head per program (``compiled`` in the old tree, ``single`` here) and of
P heads per program (``batched`` in both), and the ratio old / new (above 1: the new tree is faster).

    git worktree add /tmp/old ece8190
    python benchmarks/trainer_speed.py --old /tmp/old                # P = 1 2 4 8 16 32, 10 epochs
    python benchmarks/trainer_speed.py --old /tmp/old --heads 1 --epochs 30 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(heads: int, epochs: int, image_size: int) -> dict:
    """In a worker process: train ``heads`` heads twice (warm-up, then timed) with the tree imported."""
    import dataclasses

    import evoprune_deap  # noqa: F401  (sets the Keras backend)
    from evoprune_deap.config import HeadConfig, from_dict
    from evoprune_deap.data.loading import load_feature_set
    from evoprune_deap.head.masks import Encoding

    try:
        from evoprune_deap.head.trainer import HeadTrainer

        single = "single"
    except ImportError:  # the tree before the one trainer
        from evoprune_deap.head.training import HeadTrainer

        single = "compiled"
    features = load_feature_set(from_dict({"data": {"dataset": "elpv", "image_size": image_size}}))
    (x, y), (xv, yv) = features.arrays()["train"], features.arrays()["val"]
    config = HeadConfig(hidden_units=(512, 512), max_epochs=epochs, patience=epochs)
    config = dataclasses.replace(config, engine=single if heads == 1 else "batched")
    encoding = Encoding("fc1", features.n_features, config.hidden_units)
    rng = np.random.default_rng(heads)
    masks = [encoding.head_masks(rng.random(encoding.n_bits) < rng.uniform(0.5, 1.0)) for _ in range(heads)]
    seeds = list(range(1000 * heads, 1000 * heads + heads))
    trainer = HeadTrainer(features.n_features, features.n_classes, config)
    trainer.train_many(masks, x, y, seeds)  # warm-up: compile every shape
    start = time.perf_counter()
    trained = trainer.train_many(masks, x, y, seeds)
    seconds = time.perf_counter() - start
    return {
        "engine": config.engine,
        "seconds": seconds,
        "head_epochs": sum(h.epochs for h in trained),
        "val_accuracy": [h.accuracy(xv, yv) for h in trained],
    }


def run_tree(tree: str, heads: int, epochs: int, image_size: int) -> dict:
    env = {**os.environ, "PYTHONPATH": tree, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(
        [
            sys.executable,
            os.path.abspath(__file__),
            "--measure",
            str(heads),
            "--epochs",
            str(epochs),
            "--image-size",
            str(image_size),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", help="the older tree (a git worktree of an earlier commit)")
    parser.add_argument("--heads", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=128, help="ELPV feature cache to use")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.epochs, args.image_size)))
        return
    if args.old is None:
        parser.error("--old TREE is required (e.g. git worktree add /tmp/old ece8190)")
    trees = {"old": os.path.abspath(args.old), "new": HERE}
    print(
        f"fc1 heads 1280-512-512-4 on ELPV {args.image_size} px, {args.epochs} epochs each, "
        f"median of {args.repeats} alternating runs per tree"
    )
    print(
        f"{'P':>4} {'old engine':>10} {'old s/head-epoch':>17} {'new engine':>10} {'new s/head-epoch':>17} "
        f"{'old/new':>8} {'max |d val acc|':>16}"
    )
    for heads in args.heads:
        per_tree = {name: [] for name in trees}
        for _ in range(args.repeats):
            for name, tree in trees.items():
                per_tree[name].append(run_tree(tree, heads, args.epochs, args.image_size))
        rate = {
            name: statistics.median(r["seconds"] / r["head_epochs"] for r in runs)
            for name, runs in per_tree.items()
        }
        accuracy = {name: np.array(runs[0]["val_accuracy"]) for name, runs in per_tree.items()}
        print(
            f"{heads:>4} {per_tree['old'][0]['engine']:>10} {rate['old']:>17.4f} "
            f"{per_tree['new'][0]['engine']:>10} "
            f"{rate['new']:>17.4f} {rate['old'] / rate['new']:>8.2f} "
            f"{np.abs(accuracy['old'] - accuracy['new']).max():>16.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
