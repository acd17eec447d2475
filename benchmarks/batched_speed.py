"""Heads per second against batch size P: the trainer with one head per program (``single``) and with
P heads in one vmapped program (``batched``), side by side in one process.

Both engines train the same P masks (fc1, densities spread like a GA population, each with its own
seed) on the cached ELPV features for a fixed number of epochs (early stopping off), after one
warm-up call per shape so compile time is not counted. Printed per P: heads/s of each engine, their
ratio, and how many heads reached the same epoch count and validation accuracy under both (the same
padding rule; vmapped programs round differently, so weights agree to float rounding and a
borderline validation image can flip). benchmarks/trainer_speed.py compares with an older tree.

    python benchmarks/batched_speed.py                         # P = 1 2 4 ... 64, 10 epochs (CPU)
    python benchmarks/batched_speed.py --heads 1 4 16 64 256 --epochs 20   # on a GPU

On a GPU, the end-to-end figure of issue 12 (the paper's fc1 budget, K = 16 pairs in flight) is:

    evoprune extract --preset paper                             # 224 px features (on any machine)
    time evoprune run --preset paper --encoding fc1 --engine batched --in-flight 16 --workers 1
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

import evoprune_deap  # noqa: F401  (sets the Keras backend)
from evoprune_deap.config import HeadConfig, from_dict
from evoprune_deap.data.loading import load_feature_set
from evoprune_deap.head.masks import Encoding
from evoprune_deap.head.trainer import HeadTrainer


def population_masks(encoding: Encoding, n: int, seed: int) -> list:
    """``n`` fc1 masks with densities spread over [0.5, 1) like an initial population's dense half."""
    rng = np.random.default_rng(seed)
    return [encoding.head_masks(rng.random(encoding.n_bits) < rng.uniform(0.5, 1.0)) for _ in range(n)]


def timed(trainer: HeadTrainer, masks: list, x, y, seeds: list) -> tuple[float, list]:
    start = time.perf_counter()
    heads = trainer.train_many(masks, x, y, seeds)
    return time.perf_counter() - start, heads


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--heads", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--image-size", type=int, default=128, help="ELPV feature cache to use")
    args = parser.parse_args(argv)

    import jax

    features = load_feature_set(from_dict({"data": {"dataset": "elpv", "image_size": args.image_size}}))
    arrays = features.arrays()
    (x, y), (xv, yv) = arrays["train"], arrays["val"]
    config = HeadConfig(hidden_units=(512, 512), max_epochs=args.epochs, patience=args.epochs)
    encoding = Encoding("fc1", features.n_features, config.hidden_units)
    trainers = {
        engine: HeadTrainer(
            features.n_features, features.n_classes, dataclasses.replace(config, engine=engine)
        )
        for engine in ("single", "batched")
    }
    print(
        f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); ELPV {args.image_size} px, "
        f"{x.shape[0]} training rows x {x.shape[1]} features; fc1 heads 1280-512-512-4, "
        f"{args.epochs} epochs each"
    )
    print(
        f"{'P':>5} {'single heads/s':>17} {'batched heads/s':>16} {'batched/single':>17} "
        f"{'same epochs':>12} {'same val acc':>13} {'max |d val acc|':>16}"
    )
    for n in args.heads:
        masks = population_masks(encoding, n, seed=n)
        seeds = list(range(1000 * n, 1000 * n + n))
        rates, results = {}, {}
        for engine, trainer in trainers.items():
            timed(trainer, masks, x, y, seeds)  # warm-up: compile every shape this P needs
            seconds, heads = timed(trainer, masks, x, y, seeds)
            rates[engine], results[engine] = n / seconds, [(h.epochs, h.accuracy(xv, yv)) for h in heads]
        (epochs_a, acc_a), (epochs_b, acc_b) = (np.array(results[e]).T for e in ("single", "batched"))
        print(
            f"{n:>5} {rates['single']:>17.2f} {rates['batched']:>16.2f} "
            f"{rates['batched'] / rates['single']:>17.2f} {int((epochs_a == epochs_b).sum()):>9}/{n:<2} "
            f"{int((acc_a == acc_b).sum()):>10}/{n:<2} {np.abs(acc_a - acc_b).max():>16.4f}"
        )


if __name__ == "__main__":
    main()
