"""One finished run's baselines, rerun by an older tree (a git worktree) and by this one: same figures? time?

Each tree reruns the run's finishing step of a campaign, :func:`~evoprune_deap.run.campaign.run_combination`
on a copy of the run directory without its ``baselines.csv`` (the GA is finished, so only the baselines
run: the unpruned reference, unless ``unpruned_head.npz`` is there, the linear probe, the random masks
and the three pruning methods), in its own process, trees alternating. Printed: the largest difference
between the trees of every figure of ``baselines.csv`` (per method and column), and the wall seconds of
each tree's step (without the process start and the feature loading), split into the pruning methods,
the masks scored by the run's fitness (reference, random masks) and the linear probe.

    git worktree add /tmp/old 234271b
    python benchmarks/baselines_before_after.py results/audit/elpv/honest/fc1/seed0 --old /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = ("val_accuracy", "test_accuracy", "holdout_accuracy", "weight_sparsity_fc1", "weight_sparsity_fc2")


def finish(run_dir: str, n_random: int) -> dict:
    """In this process (whichever tree it imports): the campaign's baseline step on ``run_dir``, timed."""
    import time

    import pandas as pd

    from evoprune_deap.data.loading import load_feature_set
    from evoprune_deap.records.directory import RunDirectory
    from evoprune_deap.run.campaign import run_combination

    config = RunDirectory(run_dir).read_config()
    feature_set = load_feature_set(config)
    spent = _time_the_shared_parts()
    start = time.perf_counter()
    run_combination(config, feature_set, run_dir, n_random)
    seconds = time.perf_counter() - start
    rows = pd.read_csv(os.path.join(run_dir, RunDirectory.BASELINES)).to_dict("records")
    pruning = seconds - spent["masks"] - spent["probe"]
    return {
        "seconds": seconds,
        "pruning_seconds": pruning,
        **{f"{k}_seconds": v for k, v in spent.items()},
        "rows": rows,
    }


def _time_the_shared_parts() -> dict:
    """Time, in both trees, what the baselines share with the GA (masks scored by the run's fitness: the
    reference and the random masks) and the linear probe; the rest of the step is the pruning methods."""
    import functools
    import time

    from evoprune_deap.compare import baselines

    spent = {"masks": 0.0, "probe": 0.0}

    def timed(function, key):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start

        return wrapper

    baselines.linear_probe = timed(baselines.linear_probe, "probe")
    baselines.MaskFitness.score = timed(baselines.MaskFitness.score, "masks")
    return spent


def run_tree(tree: str, run_dir: str, folder: str, label: str, n_random: int) -> dict:
    copy = os.path.join(folder, label)
    shutil.copytree(run_dir, copy)
    os.remove(os.path.join(copy, "baselines.csv"))
    env = {**os.environ, "PYTHONPATH": tree, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "jax"}
    out = os.path.join(folder, f"{label}.json")
    code = (
        f"import json, sys; sys.path.insert(0, {os.path.join(HERE, 'benchmarks')!r}); "
        f"from baselines_before_after import finish; "
        f"json.dump(finish({copy!r}, {n_random}), open({out!r}, 'w'))"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd="/")
    with open(out) as f:
        return json.load(f)


def differences(old: list, new: list) -> list:
    """(method, draw, figure, old, new, |new - old|) for every figure of every row."""
    table = []
    for a, b in zip(old, new):
        assert (a["method"], a["draw"]) == (b["method"], b["draw"])
        for figure in FIGURES:
            if figure in a and a[figure] == a[figure]:  # present and not NaN
                table.append(
                    (a["method"], a["draw"], figure, a[figure], b[figure], abs(b[figure] - a[figure]))
                )
    return table


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", help="a finished run directory with a baselines.csv")
    parser.add_argument("--old", required=True, help="the older tree (a git worktree of an earlier commit)")
    parser.add_argument("--new", default=HERE, help="the newer tree (default: this one)")
    parser.add_argument("--repeats", type=int, default=1, help="times each tree runs (alternating)")
    parser.add_argument("--random", type=int, default=3, help="random masks (the campaign's default: 3)")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="baselines-before-after-")
    results = {"old": [], "new": []}
    for repeat in range(args.repeats):
        for label, tree in (("old", os.path.abspath(args.old)), ("new", os.path.abspath(args.new))):
            results[label].append(run_tree(tree, args.run_dir, folder, f"{label}{repeat}", args.random))
            print(f"{label} run {repeat}: {results[label][-1]['seconds']:.1f} s", flush=True)
    print(f"\n{'method':<18}{'draw':>5}  {'figure':<20}{'old':>12}{'new':>12}{'|difference|':>15}")
    for method, draw, figure, a, b, d in differences(results["old"][0]["rows"], results["new"][0]["rows"]):
        print(f"{method:<18}{draw:>5}  {figure:<20}{a:>12.6f}{b:>12.6f}{d:>15.3g}")
    for label, runs in results.items():
        for part in ("seconds", "pruning_seconds", "masks_seconds", "probe_seconds"):
            seconds = ", ".join(f"{r[part]:.1f}" for r in runs)
            print(f"{label}: {part.replace('_seconds', '').replace('seconds', 'whole step'):<11} {seconds} s")
    print(f"(run directories and JSON under {folder})")


if __name__ == "__main__":
    main()
