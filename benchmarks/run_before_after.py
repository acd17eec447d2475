"""Whole runs of an older tree (a git worktree) and of this one, side by side: same masks? same fitness? time?

For each encoding, ``evoprune run`` (quick preset on ELPV, the given population, seed 0, default
workers) runs once in each tree, alternating, each in its own process and run directory. Printed per
encoding: whether both runs evaluated the same masks in the same order, the largest difference of
fitness (validation accuracy), of epochs and of the best head's test accuracy, the unpruned
reference of each, and the wall seconds of each whole command (start-up, search and finishing).

    git worktree add /tmp/old ece8190
    python benchmarks/run_before_after.py --old /tmp/old [--encodings fc1 fc2 both fs] [--population 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import pandas as pd

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(tree: str, encoding: str, population: int, out: str) -> float:
    env = {**os.environ, "PYTHONPATH": tree, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [
        sys.executable,
        "-m",
        "evoprune_deap",
        "-q",
        "run",
        "--encoding",
        encoding,
        "--population",
        str(population),
        "--seed",
        "0",
        "--run-dir",
        out,
    ]
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, cwd="/", stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--old", required=True, help="the older tree (a git worktree of an earlier commit)")
    parser.add_argument("--encodings", nargs="+", default=["fc1", "fc2", "both", "fs"])
    parser.add_argument("--population", type=int, default=6)
    parser.add_argument("--keep", help="keep the run directories under this folder")
    args = parser.parse_args(argv)
    trees = {"old": os.path.abspath(args.old), "new": HERE}
    folder = args.keep or tempfile.mkdtemp(prefix="before-after-")
    print(f"ELPV quick preset, population {args.population}, seed 0; run directories in {folder}")
    print(
        f"{'encoding':<9} {'same masks':>10} {'max |d fitness|':>16} {'max |d epochs|':>15} "
        f"{'d best test':>12} {'unpruned test old/new':>22} {'wall old s':>11} {'wall new s':>11} "
        f"{'old/new':>8}"
    )
    for encoding in args.encodings:
        walls, logs, summaries = {}, {}, {}
        for name, tree in trees.items():
            out = os.path.join(folder, f"{encoding}-{name}")
            walls[name] = run(tree, encoding, args.population, out)
            logs[name] = pd.read_csv(os.path.join(out, "evaluations.csv"))
            with open(os.path.join(out, "summary.json")) as stream:
                summaries[name] = json.load(stream)
        old, new = logs["old"], logs["new"]
        same = old["mask_hash"].tolist() == new["mask_hash"].tolist()
        fitness = (old["fitness"] - new["fitness"]).abs().max() if same else float("nan")
        epochs = (old["epochs"] - new["epochs"]).abs().max() if same else float("nan")
        best = summaries["new"]["test_accuracy"] - summaries["old"]["test_accuracy"]
        unpruned = "/".join(f"{summaries[tree]['unpruned_test_accuracy']:.4f}" for tree in ("old", "new"))
        print(
            f"{encoding:<9} {str(same):>10} {fitness:>16.6f} {epochs:>15} {best:>12.4f} {unpruned:>22} "
            f"{walls['old']:>11.1f} {walls['new']:>11.1f} {walls['old'] / walls['new']:>8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
