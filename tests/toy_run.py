"""A GA run with a toy fitness and the real persistence, for kill/resume tests.

    python tests/toy_run.py RUN_DIR RESUME(0|1) DELAY_SECONDS
"""

import sys
import time

from evoprune_deap import rundir
from evoprune_deap.config import GAConfig
from evoprune_deap.persistent import evolve

GA = GAConfig(population=6, evaluations=40)


def fitness(mask):
    time.sleep(DELAY)
    return float(mask[:8].mean()) - 0.25 * float(mask.mean())


if __name__ == "__main__":
    run_dir, resume, DELAY = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
    with rundir.RunLock(run_dir):
        state = evolve(fitness, 32, GA, seed=7, run_dir=run_dir, resume=resume)
    print("".join(map(str, state.best)))


class Sleeper:
    """Picklable fitness factory for worker tests: each mask sleeps ``seconds``."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __call__(self, mask):
        time.sleep(self.seconds)
        return float(sum(mask))
