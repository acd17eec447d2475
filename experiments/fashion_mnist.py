"""EvoPruneDeepTL campaign on fashion_mnist: seeds x encodings (fc1, fc2, both, fs) + baselines.

    python experiments/fashion_mnist.py [--seeds 0 1 2] [--encodings fc1 fs] [--out results/fashion_mnist]

Settings live in fashion_mnist.toml beside this script; see `--help` for overrides.
"""

import os
import sys

from evoprune_deap.campaign import main

if __name__ == "__main__":
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_mnist.toml")
    sys.exit(main(["--config", config, *sys.argv[1:]]))
