"""A GA run with a toy fitness and the real persistence, for kill/resume tests.

python tests/toy_run.py RUN_DIR RESUME(0|1) DELAY_SECONDS
"""

import sys
import time
from typing import NamedTuple

from evoprune_deap.config import GAConfig
from evoprune_deap.records.directory import RunDirectory
from evoprune_deap.run.evolution import evolve
from evoprune_deap.search.evaluator import one_by_one

GA = GAConfig(population=6, evaluations=40)
CALLS = []
DELAY = 0.0  # seconds per evaluation; the command line sets it


def fitness(mask):
    CALLS.append(1)
    time.sleep(DELAY)
    return float(mask[:8].mean()) - 0.25 * float(mask.mean())


if __name__ == "__main__":
    run_dir, resume, DELAY = RunDirectory(sys.argv[1]), sys.argv[2] == "1", float(sys.argv[3])
    with run_dir.lock():
        state = evolve(one_by_one(fitness), 32, GA, seed=7, run_dir=run_dir, resume=resume)
    print("".join(map(str, state.best)), f"calls={len(CALLS)}")


class ToyFactory:
    """Picklable fitness factory for cluster tests: ``factory(payload)`` builds a ToyFitness.

    The payload stands in for the features: it must reach the worker intact.
    """

    def __init__(self, delay=0.0, fail_on=None):
        self.delay, self.fail_on = delay, fail_on

    def __call__(self, payload):
        return ToyFitness(self.delay, self.fail_on, payload)


class ToyFitness:
    def __init__(self, delay, fail_on, payload):
        self.delay, self.fail_on, self.payload = delay, fail_on, payload

    def __call__(self, mask):
        if self.payload is not None and int(self.payload.sum()) != PAYLOAD_SUM:
            raise ValueError("the payload was damaged on its way")
        if self.fail_on is not None and int(mask.sum()) == self.fail_on:
            raise ValueError(f"boom at {self.fail_on} active bits")
        time.sleep(self.delay)
        return float(mask[:8].mean()) - 0.25 * float(mask.mean())

    def score_many(self, masks, with_test):
        """Stands in for MaskFitness.score_many: per mask, the fitness and which score was asked for."""
        return [ToyScore(self(mask), with_test) for mask in masks]


class ToyScore(NamedTuple):
    """(fitness, with_test), with the ``result`` of a HeadScore: the fitness."""

    value: float
    with_test: bool

    def result(self, protocol):
        return self.value


PAYLOAD_SUM = 499500  # sum(range(1000))
