"""Multi-objective EvoPruneDeepTL (NSGA-II) on elpv with Fashion-MNIST as the out-of-distribution set.

    python experiments/elpv_pareto.py [--seeds 0 1 2] [--window 85-95] [--out results/pareto/elpv]

Per seed: `evoprune run` with elpv_pareto.toml (accuracy, active units, OOD AUROC), then `evoprune
ensemble` of the front; finished runs are skipped, interrupted ones resumed. Then `evoprune report`
and `evoprune plot` over all seeds. Fashion-MNIST comes from Debian's package: if it is missing, the
run says `apt-get install dataset-fashion-mnist`.
"""

import argparse
import glob
import os
import sys

from evoprune_deap.cli import main

CONFIG = __file__.removesuffix(".py") + ".toml"


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--window", default="85-95", help="ensemble window of accuracy percentiles")
    parser.add_argument("--out", default=os.path.join("results", "pareto", "elpv"))
    args, extra = parser.parse_known_args(argv)  # extra: options of `evoprune run`, e.g. --evaluations 200
    for seed in args.seeds:
        run_dir = os.path.join(args.out, f"seed{seed}")
        if not os.path.exists(os.path.join(run_dir, "summary.json")):
            resume = os.path.exists(os.path.join(run_dir, "config.toml"))
            command = ["--resume", run_dir] if resume else ["--config", CONFIG, "--seed", str(seed),
                                                            "--run-dir", run_dir, *extra]
            if main(["run", *command]) != 0:
                return 1
        if not glob.glob(os.path.join(run_dir, "ensemble", "*.json")) and main(
                ["ensemble", run_dir, "--window", args.window]) != 0:
            return 1
    runs = [os.path.join(args.out, f"seed{seed}") for seed in args.seeds]
    return main(["report", *runs, "--out", os.path.join(args.out, "report")]) or \
        main(["plot", *runs, "--out", os.path.join(args.out, "plots")])


if __name__ == "__main__":
    sys.exit(run())
