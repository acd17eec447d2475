"""Draw fitness reliability against density from the outputs of ``benchmarks/fitness_noise.py``.

Reads each ``DIR/scores.csv`` (no training) and writes one figure, a column per study: every mask's
validation accuracy over seeds against its share of active bits, and the ICC of each density band
under per-mask and common seeds (``evoprune_deap.report.reliability.plot_reliability``).

    python benchmarks/reliability_plot.py results/noise/elpv_fc1 results/noise/elpv_fs \\
        results/noise/fashion_mnist_fc1 --out results/noise/reliability.png
"""

from __future__ import annotations

import argparse
import os

import pandas as pd

from evoprune_deap.report.reliability import plot_reliability

TITLES = {"elpv_fc1": "ELPV, fc1", "elpv_fs": "ELPV, fs", "fashion_mnist_fc1": "Fashion-MNIST, fc1"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+", metavar="DIR", help="output folders of fitness_noise.py")
    parser.add_argument("--out", default="results/noise/reliability.png")
    parser.add_argument("--part", default="val", choices=["val", "test"])
    args = parser.parse_args(argv)
    studies = {}
    for folder in args.studies:
        path = os.path.join(folder, "scores.csv")
        if not os.path.isfile(path):
            parser.error(f"{path} does not exist; give folders written by benchmarks/fitness_noise.py")
        name = os.path.basename(os.path.normpath(folder))
        studies[TITLES.get(name, name)] = pd.read_csv(path)
    figure = plot_reliability(studies, part=args.part)
    figure.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
