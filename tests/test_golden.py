"""The GA is byte-identical to the release before the consolidation (commit e3c3b4a).

Since the log's hash chain, each row of ``evaluations.csv`` ends with one more field, ``check``: the
comparison drops it and checks everything else byte for byte, and the chain is verified by reading the log
back as a resume does.

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
from evoprune_deap.records.evaluation_log import read_log
from evoprune_deap.run.evolution import evolve
from evoprune_deap.search.bits import mask_to_hex
from evoprune_deap.search.evaluator import one_by_one

GOLDEN = os.path.join(os.path.dirname(__file__), "golden")


def _without_check(log: bytes) -> bytes:
    """The log as the release before the hash chain wrote it: every line without its last field, ``check``
    (each line's earlier fields are the same bytes; the chain is verified apart)."""
    lines = log.splitlines(keepends=True)
    assert lines[0].rstrip(b"\n").split(b",")[-1] == b"check"
    return b"".join(line.rstrip(b"\n").rsplit(b",", 1)[0] + b"\n" for line in lines)


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
    log = tmp_path / RunDirectory.EVALUATIONS
    with open(os.path.join(GOLDEN, f"{name}.csv"), "rb") as stream:
        assert _without_check(log.read_bytes()) == stream.read()
    assert len(read_log(str(log))) == len(log.read_bytes().splitlines()) - 1  # the hash chain verifies
    assert mask_to_hex(state.best.mask) == golden["best"]
    assert state.best.fitness.values[0] == golden["best_fitness"]
    assert (state.stop_reason, state.cache_hits) == (golden["stop_reason"], golden["cache_hits"])
    assert list(state.logbook) == golden["logbook"]
