"""Multi-objective EvoPruneDeepTL (NSGA-II) on elpv with Fashion-MNIST as the out-of-distribution set,
against the single-objective GA with the same budget and seeds, and its baselines.

    python experiments/elpv_pareto.py [--seeds 0 1 2] [--windows 85-95 50-100] [--out results/pareto/elpv]

Per seed: `evoprune run` with elpv_pareto.toml (accuracy, active units, OOD AUROC) into
OUT/nsga2/seed<k>, then `evoprune ensemble` of its front for each window; and the single-objective
campaign (elpv.toml, fc1, the same population and evaluations) with every baseline into
OUT/single/fc1/seed<k>. Finished steps are skipped, interrupted runs resumed. Then `evoprune report`
and `evoprune plot` over both. Fashion-MNIST comes from Debian's package: if it is missing, the run
says `apt-get install dataset-fashion-mnist`.
"""

import argparse
import os
import sys

from evoprune_deap.cli import main
from evoprune_deap.config import load_config

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = os.path.join(HERE, "elpv_pareto.toml")


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--windows", nargs="+", default=["85-95", "50-100"], help="ensemble windows (percentiles)"
    )
    parser.add_argument("--out", default=os.path.join("results", "pareto", "elpv"))
    args = parser.parse_args(argv)
    ga = load_config(CONFIG).ga
    for seed in args.seeds:
        run_dir = os.path.join(args.out, "nsga2", f"seed{seed}")
        if not os.path.exists(os.path.join(run_dir, "summary.json")):
            resume = os.path.exists(os.path.join(run_dir, "config.toml"))
            command = (
                ["--resume", run_dir]
                if resume
                else ["--config", CONFIG, "--seed", str(seed), "--run-dir", run_dir]
            )
            if main(["-q", "run", *command]) != 0:
                return 1
        for window in args.windows:
            done = os.path.exists(os.path.join(run_dir, "ensemble", f"ensemble_{window}.json"))
            if not done and main(["-q", "ensemble", run_dir, "--window", window]) != 0:
                return 1
    single = os.path.join(args.out, "single")
    if (
        main(
            [
                "campaign",
                os.path.join(HERE, "elpv.toml"),
                "--seeds",
                *map(str, args.seeds),
                "--encodings",
                "fc1",
                "--population",
                str(ga.population),
                "--evaluations",
                str(ga.budget),
                "--out",
                single,
            ]
        )
        != 0
    ):
        return 1
    runs = [os.path.join(args.out, "nsga2"), single]
    return main(["report", *runs, "--out", os.path.join(args.out, "report")]) or main(
        ["plot", *runs, "--out", os.path.join(args.out, "plots")]
    )


if __name__ == "__main__":
    sys.exit(run())
