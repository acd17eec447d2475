"""The Dask path on this machine: LocalCluster against the former WorkerPool, and K pairs in flight.

1. The default LocalCluster (one pinned, single-threaded process worker per core)
   against the process pool the toolkit used before (a spawned
   ProcessPoolExecutor, one worker per core pinned the same way), training the
   same ELPV fc1 masks for a fixed number of epochs, side by side: start-up
   seconds, heads per second, and the ratio.
2. An fc1 run on ELPV at the paper population (30) cut to ``--evaluations``
   evaluations of at most ``--max-epochs`` epochs, for K = 1, 2, 4 pairs in
   flight: wall seconds and worker idle share (from Dask's task stream).

    python benchmarks/cluster_speed.py [--epochs 30] [--masks 16] [--repeats 4] [--evaluations 50] \\
        [--max-epochs 200]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import time

import numpy as np

import evoprune_deap  # noqa: F401  (sets the Keras backend)
from evoprune_deap.config import GAConfig, HeadConfig
from evoprune_deap.evaluation.cluster import SINGLE_THREAD_XLA, ClusterFitness, available_cores, open_client
from evoprune_deap.evaluation.fitness import MaskFitness
from evoprune_deap.head.masks import Encoding

_pool_fitness = None


def _pool_init(cores, args):
    """What the former WorkerPool did in each spawned worker: pin, one XLA thread, build the fitness."""
    global _pool_fitness
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + SINGLE_THREAD_XLA).strip()
    os.sched_setaffinity(0, {cores.get()})
    _pool_fitness = MaskFitness(*args)


def _pool_evaluate(mask):
    return _pool_fitness(mask)


def _noop():
    return 0


def elpv():
    from evoprune_deap.data.extraction import extract_features
    from evoprune_deap.data.images.sources import load_source

    return extract_features(load_source("elpv"), image_size=128)


def _run_pool(args, masks) -> tuple[float, float, list]:
    """The former WorkerPool's design: (start-up seconds, training seconds, results)."""
    cores = available_cores()
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    for core in cores:
        queue.put(core)
    with concurrent.futures.ProcessPoolExecutor(
        len(cores), mp_context=context, initializer=_pool_init, initargs=(queue, args)
    ) as pool:
        [f.result() for f in [pool.submit(_noop) for _ in cores]]
        startup = time.perf_counter() - start
        begin = time.perf_counter()
        results = list(pool.map(_pool_evaluate, masks))
        return startup, time.perf_counter() - begin, results


def _run_cluster(args, masks) -> tuple[float, float, list]:
    """The default LocalCluster: (start-up seconds, training seconds, results)."""
    start = time.perf_counter()
    with open_client(None, len(available_cores())) as client:
        fitness = ClusterFitness.for_masks(client, *args)
        startup = time.perf_counter() - start
        begin = time.perf_counter()
        results = list(fitness.evaluate_many(masks))
        return startup, time.perf_counter() - begin, results


def compare_pools(features, n_masks: int, epochs: int, repeats: int) -> None:
    """Both paths ``repeats`` times, alternating (this machine is shared and noisy): best of each."""
    config = HeadConfig(hidden_units=(512, 512), max_epochs=epochs, patience=epochs)
    encoding = Encoding("fc1", features.n_features, config.hidden_units)
    rng = np.random.default_rng(0)
    masks = [rng.random(512) < rng.uniform(0.2, 0.9) for _ in range(n_masks)]
    args = (features, encoding, config, "honest", 0)
    times = {"former process pool": [], "LocalCluster (default)": []}
    for repeat in range(repeats):
        order = [("former process pool", _run_pool), ("LocalCluster (default)", _run_cluster)]
        for name, run in order if repeat % 2 == 0 else order[::-1]:
            startup, seconds, results = run(args, masks)
            times[name].append((startup, seconds, [r[0] for r in results]))
    fitness = {tuple(f) for runs in times.values() for _, _, f in runs}
    assert len(fitness) == 1, "the two paths disagree"
    print(
        f"{n_masks} fc1 masks (mean {np.mean([m.sum() for m in masks]):.0f} of 512 active), "
        f"{epochs} epochs each, "
        f"{len(available_cores())} workers, same fitness on both paths; {repeats} alternating repeats, "
        "training seconds of each repeat and the best"
    )
    print(f"{'path':<26}{'start-up s':>11}{'train s (each)':>22}{'best':>7}{'heads/s':>9}")
    best = {}
    for name, runs in times.items():
        best[name] = min(seconds for _, seconds, _ in runs)
        each = " ".join(f"{seconds:.1f}" for _, seconds, _ in runs)
        print(
            f"{name:<26}{min(s for s, _, _ in runs):>11.1f}{each:>22}{best[name]:>7.1f}"
            f"{n_masks / best[name]:>9.3f}"
        )
    print(
        f"ratio LocalCluster / pool, heads per second (best of each): "
        f"{best['former process pool'] / best['LocalCluster (default)']:.3f}"
    )


def in_flight_runs(features, evaluations: int, max_epochs: int, ks) -> None:
    import tempfile

    from distributed import get_task_stream

    from evoprune_deap.records.directory import RunDirectory
    from evoprune_deap.run.evolution import evolve

    config = HeadConfig(hidden_units=(512, 512), max_epochs=max_epochs)
    encoding = Encoding("fc1", features.n_features, (512, 512))
    print(
        f"\nfc1 on ELPV 128 px: population 30, {evaluations} evaluations, at most {max_epochs} epochs, "
        f"{len(available_cores())} workers"
    )
    print(f"{'K':>3}{'wall s':>9}{'idle %':>8}{'best':>8}")
    with open_client(None, 0) as client:
        n_workers = len(client.scheduler_info()["workers"])
        for k in ks:
            fitness = ClusterFitness.for_masks(client, features, encoding, config, "honest", 0)
            with tempfile.TemporaryDirectory() as folder, get_task_stream(client) as stream:
                start = time.perf_counter()
                state = evolve(
                    fitness,
                    512,
                    GAConfig(population=30, evaluations=evaluations, in_flight=k),
                    0,
                    RunDirectory(folder),
                )
                wall = time.perf_counter() - start
            busy = sum(
                p["stop"] - p["start"]
                for task in stream.data
                for p in task["startstops"]
                if p["action"] == "compute"
            )
            print(
                f"{k:>3}{wall:>9.1f}{100 * (1 - busy / (n_workers * wall)):>8.1f}"
                f"{state.best.fitness.values[0]:>8.4f}",
                flush=True,
            )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--masks", type=int, default=16)
    parser.add_argument("--evaluations", type=int, default=50)
    parser.add_argument("--max-epochs", type=int, default=200)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=4, help="alternating repeats of the pool comparison")
    parser.add_argument("--skip-runs", action="store_true", help="only the pool comparison")
    args = parser.parse_args()
    features = elpv()
    compare_pools(features, args.masks, args.epochs, args.repeats)
    if not args.skip_runs:
        in_flight_runs(features, args.evaluations, args.max_epochs, args.k)


if __name__ == "__main__":
    main()
