"""The GA is byte-identical to the release before the consolidation (commit e3c3b4a).

``tests/golden/`` holds the ``evaluations.csv``, best mask, stop reason and
Logbook of four runs of that release on toy fitness functions, through the
persisted path (``evolve``): exact on any machine, since the fitness values
are exact binary fractions and the GA draws only from its seeded Generator.
"""

import json
import os

import pytest

from evoprune_deap.config import GAConfig
from evoprune_deap.records.directory import RunDirectory, RunLock
from evoprune_deap.run.evolution import evolve
from evoprune_deap.search.bits import mask_to_hex
from evoprune_deap.search.evaluator import one_by_one

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def sparse8(mask):
    return float(mask[:8].mean()) - 0.25 * float(mask.mean())


def popcount(mask):
    return float(mask.sum())


def parity_blocks(mask):
    return float((mask.reshape(-1, 4).sum(1) % 2).mean())


CASES = {  # name -> (fitness, n_bits, GA settings, seed), as recorded
    "sparse8": (sparse8, 32, dict(population=6, evaluations=40), 7),
    "per_bit": (
        sparse8,
        64,
        dict(population=10, evaluations=120, mutation="per_bit", per_bit_prob=0.05, init_density=0.4),
        3,
    ),
    "stale": (popcount, 4, dict(population=4, evaluations=16, max_stale_steps=20), 1),
    "always_mutate": (
        parity_blocks,
        48,
        dict(population=12, evaluations=60, mutation_prob=1.0, candidates=5),
        11,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ga_reproduces_the_golden_run(tmp_path, name):
    fitness, n_bits, ga, seed = CASES[name]
    with RunLock(str(tmp_path)):
        state = evolve(one_by_one(fitness), n_bits, GAConfig(**ga), seed=seed, run_dir=RunDirectory(tmp_path))
    with open(os.path.join(GOLDEN, f"{name}.json")) as stream:
        golden = json.load(stream)
    with open(os.path.join(GOLDEN, f"{name}.csv"), "rb") as stream:
        assert (tmp_path / RunDirectory.EVALUATIONS).read_bytes() == stream.read()
    assert mask_to_hex(state.best.mask) == golden["best"]
    assert state.best.fitness.values[0] == golden["best_fitness"]
    assert (state.stop_reason, state.cache_hits) == (golden["stop_reason"], golden["cache_hits"])
    assert list(state.logbook) == golden["logbook"]
