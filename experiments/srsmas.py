"""EvoPruneDeepTL campaign on srsmas: seeds x encodings (fc1, fc2, both, fs) + baselines.

    python experiments/srsmas.py [--seeds 0 1 2] [--encodings fc1 fs] [--out results/srsmas]

Settings live in srsmas.toml beside this script; see `--help` for overrides.
"""

import os
import sys

from evoprune_deap.campaign import main

if __name__ == "__main__":
    config = os.path.join(os.path.dirname(os.path.abspath(__file__)), "srsmas.toml")
    sys.exit(main(["--config", config, *sys.argv[1:]]))
