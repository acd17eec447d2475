"""Fitness evaluation speed: the reference design against the project's path.

Reference (the paper's design once features are cached): one Keras ``fit`` per
individual, a full-width head multiplied by constant 0/1 masks, TensorFlow
backend, default settings. It runs in a subprocess so each side has its own
Keras backend.

Ours: :class:`evoprune_deap.head.trainer.HeadTrainer` (physically pruned, padded by the one
rule, the whole protocol as one pure JAX program per head) in this process; the masked
full-width Keras head trained with Keras ``fit`` on the default (JAX) backend, the reference
the tests train against (``fit-ref``); and the trainer on the default 2-worker LocalCluster
(pinned, single-threaded workers), as a run uses it.

Every path trains the same masks from the same seed for a fixed number of
epochs (early stopping off). Printed: seconds per individual-epoch, the ratio
to the reference, the float32 matmul peak measured in this run and the share
of it each path reaches, and each path's fitness (validation accuracy).

    python benchmarks/fitness_speed.py [--epochs 30] [--data elpv rps]
    python benchmarks/fitness_speed.py --full-run     # times `evoprune run --preset paper --encoding fc1`
    python benchmarks/fitness_speed.py --report-run RUN_DIR   # its evaluations and FLOP floor again
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import evoprune_deap  # noqa: F401  (sets the Keras backend)
from evoprune_deap.config import HeadConfig
from evoprune_deap.data.features import FeatureSet
from evoprune_deap.data.splits import Split
from evoprune_deap.head.masks import Encoding
from evoprune_deap.head.weights import HeadWeights

ACTIVE_FC1 = (512, 384, 256, 128)
HIDDEN = (512, 512)


def _masked_reference(masks, feature_set: FeatureSet, config: HeadConfig):
    """The full-width head times 0/1 masks, with the initial weights of seed 1234."""
    from evoprune_deap.head.models.stack import masked_reference_head

    dims = (feature_set.n_features, *config.hidden_units, feature_set.n_classes)
    return masked_reference_head(
        masks, feature_set.n_classes, config, HeadWeights.glorot(dims, 1234, config.use_bias)
    )


def matmul_peak(size: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matmul GFLOP/s (numpy BLAS, all cores)."""
    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def rps_like(seed: int = 0) -> FeatureSet:
    """Synthetic RPS-shaped set: 2520 x 2048 features, 3 classes, 372 test.

    Non-negative (post-ReLU-like) features whose class means differ little
    next to the noise, so a head does not reach accuracy 1.0 in a few epochs.
    """
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 2892 // 3)
    centres = 0.06 * rng.normal(size=(3, 2048)).astype(np.float32)
    features = np.maximum(0.5 + centres[labels] + rng.normal(size=(labels.size, 2048)), 0).astype(np.float32)
    order = rng.permutation(labels.size)
    test, rest = np.sort(order[:372]), order[372:]
    val, train = np.sort(rest[:378]), np.sort(rest[378:])
    return FeatureSet(
        features,
        labels,
        ("rock", "paper", "scissors"),
        (Split(train, val, test),),
        {"source": "rps-synthetic"},
    )


def elpv() -> FeatureSet:
    from evoprune_deap.data.extraction import extract_features
    from evoprune_deap.data.images.sources import load_source

    return extract_features(load_source("elpv"), image_size=128)


def masks_for(n_features: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    cases = []
    for active in ACTIVE_FC1:
        mask = np.zeros(512, dtype=bool)
        mask[rng.permutation(512)[:active]] = True
        cases.append(("fc1", mask))
    fs_mask = np.zeros(n_features, dtype=bool)
    fs_mask[rng.permutation(n_features)[: n_features // 2]] = True
    cases.append(("fs", fs_mask))
    return cases


def head_flops_per_epoch(n_samples: int, dims: tuple) -> float:
    """Forward + backward (3x forward) FLOPs of one epoch of a dense head."""
    return 3 * 2 * n_samples * sum(a * b for a, b in zip(dims[:-1], dims[1:]))


def reference_worker(path: str, epochs: int) -> None:
    """Runs under KERAS_BACKEND=tensorflow: the paper's design, one fit per mask."""
    import keras

    feature_set = FeatureSet.load(path)
    x, y = feature_set.arrays()["train"]
    xv, yv = feature_set.arrays()["val"]
    config = HeadConfig(hidden_units=HIDDEN, max_epochs=epochs, patience=epochs)
    rows = []
    for name, mask in masks_for(feature_set.n_features):
        masks = Encoding(name, feature_set.n_features, config.hidden_units).head_masks(mask)
        model = _masked_reference(masks, feature_set, config)
        keras.utils.set_random_seed(1234)
        start = time.perf_counter()
        model.fit(x, y, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
        seconds = time.perf_counter() - start
        accuracy = float(np.mean(np.argmax(model.predict(xv, verbose=0), 1) == yv))
        rows.append({"seconds_per_epoch": seconds / epochs, "fitness": accuracy})
    print(json.dumps(rows))


class _Trainer:
    """Picklable fitness factory: (mask) -> (seconds per epoch, fitness)."""

    def __init__(self, path, name, epochs, engine="auto"):
        from evoprune_deap.head.trainer import HeadTrainer

        self.feature_set = FeatureSet.load(path)
        self.config = HeadConfig(hidden_units=HIDDEN, max_epochs=epochs, patience=epochs, engine=engine)
        self.encoding = Encoding(name, self.feature_set.n_features, self.config.hidden_units)
        self.trainer = HeadTrainer(self.feature_set.n_features, self.feature_set.n_classes, self.config)
        self.epochs = epochs

    def masked_reference(self, mask) -> tuple[float, float]:
        """(seconds per epoch, fitness) of the masked full-width head: Keras fit here, same seed."""
        from evoprune_deap.head.models.stack import fit_head

        masks = self.encoding.head_masks(mask)
        fs = self.feature_set
        model = _masked_reference(masks, fs, self.config)
        fit_head(model, *fs.arrays()["train"], self.config, 1234, max_epochs=1)  # compile
        model = _masked_reference(masks, fs, self.config)
        start = time.perf_counter()
        fit_head(model, *fs.arrays()["train"], self.config, 1234)
        seconds = time.perf_counter() - start
        xv, yv = fs.arrays()["val"]
        return seconds / self.epochs, float(np.mean(np.argmax(model.predict(xv, verbose=0), 1) == yv))

    def __call__(self, mask):
        masks = self.encoding.head_masks(mask)
        x, y = self.feature_set.arrays()["train"]
        xv, yv = self.feature_set.arrays()["val"]
        self.trainer.train(masks, x, y, seed=1)  # compile this shape for these data, as in a run
        start = time.perf_counter()
        head = self.trainer.train(masks, x, y, seed=1234)
        seconds = time.perf_counter() - start
        accuracy = head.accuracy(xv, yv)
        return seconds / self.epochs, accuracy


_trainers: dict = {}


def _train_on_worker(path, name, epochs, mask):
    """On a Dask worker: this worker's _Trainer for (path, name, epochs), timing one mask."""
    key = (path, name, epochs)
    if key not in _trainers:
        _trainers[key] = _Trainer(path, name, epochs)
    return _trainers[key](mask)


def compare(feature_set: FeatureSet, label: str, epochs: int, peak: float, workdir: str) -> None:
    from evoprune_deap.evaluation.cluster import open_client

    path = os.path.join(workdir, f"{label}.npz")
    feature_set.save(path)
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    reference = subprocess.run(
        [sys.executable, __file__, "--reference-worker", path, str(epochs)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    ref_rows = json.loads(reference.stdout.strip().splitlines()[-1])
    cases = masks_for(feature_set.n_features)
    ours = [_Trainer(path, name, epochs)(mask) for name, mask in cases]
    masked = [_Trainer(path, name, epochs).masked_reference(mask) for name, mask in cases]
    # Two workers, each training one copy of the mask at the same time: per individual-epoch, the
    # slower worker's seconds per epoch / 2 (each times its own training, after compiling the shape).
    pooled = []
    with open_client(None, 2) as client:
        workers = list(client.scheduler_info()["workers"])
        for name, mask in cases:
            results = client.gather(
                [
                    client.submit(_train_on_worker, path, name, epochs, mask, workers=[worker], pure=False)
                    for worker in workers
                ]
            )
            pooled.append((max(seconds for seconds, _ in results) / 2, results[0][1]))
    n_train = feature_set.splits[0].train.size
    print(
        f"\n{label}: {n_train} training samples, {feature_set.n_features} features, "
        f"{feature_set.n_classes} classes, {epochs} epochs, batch 32"
    )
    print(
        f"{'mask':<14}{'ref s/ep':>10}{'fit-ref':>9}{'ours s/ep':>11}{'x ref':>7}{'2 workers':>11}"
        f"{'x ref':>7}{'ref %pk':>9}{'ours %pk':>9}{'2w %pk':>8}{'fit ref':>9}{'fit mskd':>9}"
        f"{'fit ours':>9}{'fit 2w':>8}"
    )
    for (name, mask), ref, (ours_s, ours_fit), (pool_s, pool_fit), (fit_s, masked_fit) in zip(
        cases, ref_rows, ours, pooled, masked
    ):
        active = (
            (int(mask.sum()), 512, 512, feature_set.n_classes)
            if name == "fs"
            else (feature_set.n_features, int(mask.sum()), 512, feature_set.n_classes)
        )
        useful = head_flops_per_epoch(n_train, active) / 1e9
        share = lambda seconds, useful=useful: 100 * useful / seconds / peak  # noqa: E731
        tag = f"{name} {int(mask.sum())}/{mask.size}"
        print(
            f"{tag:<14}{ref['seconds_per_epoch']:>10.4f}{fit_s:>9.4f}{ours_s:>11.4f}"
            f"{ref['seconds_per_epoch'] / ours_s:>7.1f}"
            f"{pool_s:>11.4f}{ref['seconds_per_epoch'] / pool_s:>7.1f}{share(ref['seconds_per_epoch']):>9.1f}"
            f"{share(ours_s):>9.1f}{share(pool_s):>8.1f}{ref['fitness']:>9.4f}{masked_fit:>9.4f}"
            f"{ours_fit:>9.4f}{pool_fit:>8.4f}"
        )


def report_run(run_dir: str, peak: float, wall: float | None = None) -> None:
    """Evaluations, epochs and the FLOP floor of a finished run (wall: its measured seconds)."""
    import pandas as pd

    from evoprune_deap.data.extraction import default_cache_path

    evaluations = pd.read_csv(os.path.join(run_dir, "evaluations.csv"))
    with open(os.path.join(run_dir, "summary.json")) as handle:
        summary = json.load(handle)
    wall = wall if wall is not None else summary.get("wall_seconds", float("nan"))
    features = FeatureSet.load(default_cache_path("elpv", "efficientnet_lite0", 224))
    n_train, n_features = features.splits[0].train.size, features.n_features
    flops = sum(
        head_flops_per_epoch(n_train, (n_features, int(active), 512, features.n_classes)) * int(epochs)
        for active, epochs in zip(evaluations.n_active, evaluations.epochs)
    )
    floor = flops / (peak * 1e9)
    print(
        f"{run_dir}: {wall:.0f} s wall ({wall / 60:.1f} min) for {len(evaluations)} evaluations; "
        f"epochs per evaluation: mean {evaluations.epochs.mean():.0f}, min {evaluations.epochs.min()}, "
        f"max {evaluations.epochs.max()}; active FC1 units: mean {evaluations.n_active.mean():.0f}; "
        f"best: {summary['n_active']} units, val {summary['val_accuracy']:.4f}, test "
        f"{summary['test_accuracy']:.4f} (unpruned test {summary['unpruned_test_accuracy']:.4f})"
    )
    print(
        f"FLOP floor of these evaluations' training at the measured peak ({peak:.0f} GFLOP/s, both cores "
        f"busy all the time): {floor:.0f} s ({floor / 60:.1f} min), "
        f"{100 * floor / wall:.0f}% of the wall time"
    )


def full_run() -> None:
    """Time `evoprune run --preset paper --encoding fc1` on ELPV, end to end."""
    peak = matmul_peak()
    out = os.path.join("runs", time.strftime("benchmark-%Y%m%d-%H%M%S"))
    command = ["run", "--preset", "paper", "--encoding", "fc1", "--out", out]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "evoprune_deap", *command], check=True)
    wall = time.perf_counter() - start
    print(f"`evoprune {' '.join(command)}`: {wall:.0f} s wall")
    report_run(os.path.join(out, os.listdir(out)[0]), peak, wall)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--data", nargs="+", default=["elpv", "rps"])
    parser.add_argument("--full-run", action="store_true")
    parser.add_argument("--report-run", metavar="RUN_DIR", help="report a finished full run (FLOP floor)")
    parser.add_argument("--reference-worker", nargs=2, metavar=("PATH", "EPOCHS"))
    args = parser.parse_args()
    if args.reference_worker:
        return reference_worker(args.reference_worker[0], int(args.reference_worker[1]))
    if args.full_run:
        return full_run()
    if args.report_run:
        return report_run(args.report_run, matmul_peak())
    import tempfile

    import keras

    peak = matmul_peak()
    print(
        f"float32 matmul peak (numpy, 2048^3, this run): {peak:.0f} GFLOP/s; "
        f"ours on Keras backend '{keras.backend.backend()}', reference on 'tensorflow'"
    )
    with tempfile.TemporaryDirectory() as workdir:
        for label in args.data:
            compare(elpv() if label == "elpv" else rps_like(), label, args.epochs, peak, workdir)
    print(
        "\ns/ep: seconds per individual-epoch; fit-ref: Keras fit of the masked full-width head (JAX "
        "backend); %pk: useful head FLOPs (forward+backward of the active "
        "units) per second over the matmul peak; fit: validation accuracy after the fixed epochs"
    )


if __name__ == "__main__":
    main()
