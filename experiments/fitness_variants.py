"""Issue 22's evidence: the GA under three fitness variants, dense and sparse, on ELPV, with baselines.

    python experiments/fitness_variants.py [--seeds 0 1 2] [--variants per_mask common ...] \\
        [--encodings fc1 fs] [--out results/fitness]

Each variant is a TOML in experiments/fitness/ (per-mask seeds; common seeds; common seeds with 3
repeats; for ELPV also the first and last at a 2% initial density, where masks matter), per
dataset (`--dataset elpv` or `fashion_mnist`, the 3000-image subset); each runs as `evoprune
campaign` into OUT/<variant>, then `evoprune report` compares them all in OUT/report.
"""

import argparse
import glob
import os
import sys

from evoprune_deap.cli import main

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fitness")

if __name__ == "__main__":
    dataset = next((sys.argv[i + 1] for i, arg in enumerate(sys.argv[:-1]) if arg == "--dataset"), "elpv")
    variants = sorted(
        os.path.basename(p)[len(dataset) + 1 : -5] for p in glob.glob(os.path.join(HERE, f"{dataset}_*.toml"))
    )
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="elpv", choices=["elpv", "fashion_mnist"])
    parser.add_argument("--seeds", nargs="+", default=["0", "1", "2"])
    parser.add_argument("--variants", nargs="+", default=variants, choices=variants)
    parser.add_argument("--encodings", nargs="+", default=["fc1"])
    parser.add_argument(
        "--out", default=None, help="default results/fitness (ELPV), results/fitness_fashion_mnist"
    )
    args, rest = parser.parse_known_args()
    args.out = args.out or ("results/fitness" if dataset == "elpv" else f"results/fitness_{dataset}")
    for variant in args.variants:
        out = os.path.join(args.out, variant)
        code = main(
            [
                "campaign",
                os.path.join(HERE, f"{dataset}_{variant}.toml"),
                "--encodings",
                *args.encodings,
                "--seeds",
                *args.seeds,
                "--out",
                out,
                *rest,
            ]
        )
        if code:
            sys.exit(code)
    every = sorted(os.path.join(args.out, v) for v in variants if os.path.isdir(os.path.join(args.out, v)))
    sys.exit(main(["report", *every, "--out", os.path.join(args.out, "report")]))
