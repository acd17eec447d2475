"""Scale by simulation: the pipelined GA on Dask with N workers and K pairs in flight.

The fitness sleeps for the time a real head would take (a cost model fitted to
the per-evaluation seconds and active units of a real run's ``evaluations.csv``,
scaled by ``--time-scale``) and returns a synthetic landscape's value, so
sleeping thread workers stand in for machines. Printed per (N, K): wall
seconds, worker utilisation (busy time from Dask's task stream over N x wall),
the speedup over N = 1, K = 1 (the first row), the speedup over a perfect
single worker (the run's slept seconds over its wall: comparable when cells are
run alone), and the bound a perfect cluster would reach on the same run (the
limit set by the GA's schedule, without Dask's overhead).
N = 1 runs K = 1 and 2 only: one worker is busy whatever K. Also, what K costs the search: the mean and
spread of the final best (as a share of the known optimum) over 20 seeds per K
at the same budget.

    python benchmarks/scale_simulation.py [--run results/elpv/fc1/seed0/evaluations.csv]
                                          [--time-scale 0.05] [--workers 1 2 4 8 16 32 64] [--k 1 2 4 8 16 32]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import evoprune_deap  # noqa: F401  (sets the Keras backend; nothing here trains a head)
from evoprune_deap.config import GAConfig
from evoprune_deap.evaluation.cluster import ClusterFitness
from evoprune_deap.search.evaluator import one_by_one
from evoprune_deap.search.steady_state import run_ga

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from synthetic import CostModel, Landscape, SleepingFactory  # noqa: E402

N_BITS, POPULATION, EVALUATIONS = 512, 30, 200


def simulate(client, factory, k: int, seed: int = 0) -> tuple[float, float, float, float]:
    """(wall seconds, worker utilisation, final best, slept seconds in all) of one run on ``client``."""
    from distributed import get_task_stream

    fitness = ClusterFitness(client, None, factory)
    ga = GAConfig(population=POPULATION, evaluations=EVALUATIONS, in_flight=k)
    n_workers = len(client.scheduler_info()["workers"])
    with get_task_stream(client) as stream:
        start = time.perf_counter()
        state = run_ga(fitness.evaluate_many, N_BITS, ga, np.random.default_rng(seed))
        wall = time.perf_counter() - start
    busy = sum(
        part["stop"] - part["start"]
        for task in stream.data
        for part in task["startstops"]
        if part["action"] == "compute"
    )
    work = sum(factory.fitness.cost.seconds(e.mask) for e in state.history) * factory.fitness.time_scale
    return wall, busy / (n_workers * wall), state.best.fitness.values[0], work


def schedule_bound(cost: CostModel, landscape: Landscape, n: int, k: int, seed: int = 0) -> float:
    """Speedup of a perfect, overhead-free cluster on the same run: the limit set by the GA's schedule.

    Replays the run's submissions (initial population, then pairs); pair j
    (1-based) may start once the initial population and pairs up to j - K are
    collected (in order), and a greedy scheduler puts each task on the first
    free of ``n`` workers.
    """
    import heapq

    batches = []

    def record(masks):
        batches.append([cost.seconds(mask) for mask in masks])
        return [landscape(mask) for mask in masks]

    run_ga(
        record,
        N_BITS,
        GAConfig(population=POPULATION, evaluations=EVALUATIONS, in_flight=k),
        np.random.default_rng(seed),
    )
    free, collected = [0.0] * n, []
    for j, batch in enumerate(batches):
        release = 0.0 if j <= k else collected[j - k]
        end = release
        for seconds in batch:
            start = max(heapq.heappop(free), release)
            heapq.heappush(free, start + seconds)
            end = max(end, start + seconds)
        collected.append(max(end, collected[-1] if collected else 0.0))
    return sum(map(sum, batches)) / collected[-1]


def scale_table(cost: CostModel, landscape: Landscape, workers, ks, time_scale: float) -> None:
    from distributed import Client, LocalCluster

    factory = SleepingFactory(landscape, cost, time_scale)
    print(f"cost model: {cost.describe()}; simulated at x{time_scale}")
    print(f"{'N':>4}{'K':>5}{'wall s':>9}{'util %':>8}{'speedup':>9}{'x work':>8}{'bound':>7}")
    base = None
    for n in workers:
        with (
            LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=False,  # in-process workers: no network;
                worker_dashboard_address="127.0.0.1:0",  # the HTTP servers on 127.0.0.1 only
                dashboard_address="127.0.0.1:0",
            ) as cluster,
            Client(cluster) as client,
        ):
            for k in ks if n > 1 else ks[:2]:  # one worker is busy whatever K
                wall, utilisation, _, work = simulate(client, factory, k)
                base = base or wall  # the first row: N = 1, K = 1 unless --workers says otherwise
                bound = schedule_bound(cost, landscape, n, k)
                print(
                    f"{n:>4}{k:>5}{wall:>9.2f}{100 * utilisation:>8.1f}{base / wall:>9.1f}{work / wall:>8.1f}"
                    f"{bound:>7.1f}",
                    flush=True,
                )


def search_cost(landscape: Landscape, ks, seeds: int = 20) -> None:
    """Final best over ``seeds`` runs per K at the same budget (evaluated in order here: only K matters)."""
    print(
        f"\nwhat K costs the search: {N_BITS} bits, population {POPULATION}, {EVALUATIONS} evaluations, "
        f"{seeds} seeds; final best as % of the known optimum"
    )
    print(f"{'K':>5}{'mean %':>9}{'std':>7}{'min %':>8}{'max %':>8}")
    for k in ks:
        ga = GAConfig(population=POPULATION, evaluations=EVALUATIONS, in_flight=k)
        best = [
            run_ga(one_by_one(landscape), N_BITS, ga, np.random.default_rng(seed)).best.fitness.values[0]
            for seed in range(seeds)
        ]
        share = 100 * (np.asarray(best) - 0.5) / (landscape.optimum - 0.5)
        print(f"{k:>5}{share.mean():>9.1f}{share.std():>7.1f}{share.min():>8.1f}{share.max():>8.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run",
        default="results/elpv/fc1/seed0/evaluations.csv",
        help="a real run's evaluations.csv to fit the cost model to",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.05,
        help="simulated seconds per modelled second (real heads train for seconds to minutes; "
        "much smaller scales measure Dask's per-task overhead on this 2-core machine)",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    landscape = Landscape(N_BITS)
    scale_table(CostModel(args.run), landscape, args.workers, args.k, args.time_scale)
    search_cost(landscape, args.k, args.seeds)


if __name__ == "__main__":
    main()
