"""A GA run with a toy fitness and the real persistence, for kill/resume tests.

    python tests/toy_run.py RUN_DIR RESUME(0|1) DELAY_SECONDS
"""

import os
import sys
import time

from evoprune_deap.config import GAConfig
from evoprune_deap.run.directory import RunDirectory
from evoprune_deap.run.evolution import evolve

GA = GAConfig(population=6, evaluations=40)
CALLS = []


def fitness(mask):
    CALLS.append(1)
    time.sleep(DELAY)
    return float(mask[:8].mean()) - 0.25 * float(mask.mean())


if __name__ == "__main__":
    run_dir, resume, DELAY = RunDirectory(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3])
    with run_dir.lock():
        state = evolve(fitness, 32, GA, seed=7, run_dir=run_dir, resume=resume)
    print("".join(map(str, state.best)), f"calls={len(CALLS)}")


class Sleeper:
    """Picklable fitness factory for worker tests: each mask leaves a file in ``folder``, then sleeps."""

    def __init__(self, seconds, folder):
        self.seconds, self.folder = seconds, folder

    def __call__(self, mask):
        os.makedirs(self.folder, exist_ok=True)
        with open(os.path.join(self.folder, f"{os.getpid()}-{sum(mask)}"), "w"):
            pass
        time.sleep(self.seconds)
        return float(sum(mask))
