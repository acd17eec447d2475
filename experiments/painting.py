"""EvoPruneDeepTL campaign on painting: seeds x encodings (fc1, fc2, both, fs) + baselines.

    python experiments/painting.py [--seeds 0 1 2] [--encodings fc1 fs] [--out results/painting]

Settings live in painting.toml beside this script; `evoprune campaign --help` lists the overrides.
"""

import sys

from evoprune_deap.cli import main

if __name__ == "__main__":
    sys.exit(main(["campaign", __file__.removesuffix(".py") + ".toml", *sys.argv[1:]]))
