import random

import numpy as np
import pytest

from evoprune_deap.algorithms import Callback, sort_key, steady_state_ga
from evoprune_deap.encodings import Individual


def onemax_sparse(mask):
    """Toy fitness: the first 8 bits matter; ties favour fewer bits (via sort_key)."""
    return float(mask[:8].mean())


def run(seed, fitness=onemax_sparse, **kwargs):
    options = dict(population_size=8, max_evaluations=60)
    options.update(kwargs)
    return steady_state_ga(fitness, 32, np.random.default_rng(seed), **options)


def trace(state):
    return [(e.index, e.fitness, e.mask.tobytes()) for e in state.evaluations]


def test_same_seed_same_run_other_seed_other_run():
    a, b, c = run(1), run(1), run(2)
    assert trace(a) == trace(b)
    assert list(a.logbook) == list(b.logbook)
    assert np.array_equal(a.best.mask, b.best.mask)
    assert trace(a) != trace(c)


def test_budget_counts_only_new_evaluations():
    calls = []

    def fitness(mask):
        calls.append(mask.tobytes())
        return onemax_sparse(mask)

    state = run(0, fitness, max_evaluations=40)
    assert state.n_evaluations == len(calls) == 40
    assert len(set(calls)) == 40  # the memo never recomputes a mask
    assert state.stop_reason == "budget"


def test_stops_when_every_child_is_a_cache_hit():
    state = steady_state_ga(lambda m: float(m.sum()), 3, np.random.default_rng(0),
                            population_size=4, max_evaluations=100, max_stale_steps=50)
    assert state.stop_reason == "stale"
    assert state.n_evaluations <= 8  # only 8 masks of 3 bits exist


def test_replacement_never_makes_the_population_worse():
    class WorstWatcher(Callback):
        def __init__(self):
            self.worst = []

        def on_evaluation(self, evaluation, state):
            if len(state.population) == 8:
                self.worst.append(min(sort_key(ind) for ind in state.population))

    watcher = WorstWatcher()
    run(4, callbacks=[watcher], max_evaluations=80)
    assert watcher.worst == sorted(watcher.worst)


def test_best_breaks_ties_by_fewer_active_bits():
    a, b = Individual([1, 1, 0, 0]), Individual([1, 0, 0, 0])
    a.fitness.values = b.fitness.values = (0.5,)
    assert max([a, b], key=sort_key) is b


def test_callback_can_stop_the_run():
    class StopAtTen(Callback):
        def on_evaluation(self, evaluation, state):
            return state.n_evaluations >= 10

    state = run(0, callbacks=[StopAtTen()])
    assert state.n_evaluations == 10 and state.stop_reason == "callback"


def test_global_reseeding_inside_fitness_does_not_change_the_ga_stream():
    def reseeding(mask):
        random.seed(0)
        np.random.seed(0)  # what keras.utils.set_random_seed does
        return onemax_sparse(mask)

    assert trace(run(3)) == trace(run(3, reseeding))


def test_known_results_replay_exactly():
    full = run(5)
    from evoprune_deap.encodings import mask_key

    known = {mask_key(e.mask): (e.fitness, {}) for e in full.evaluations[:25]}
    calls = []

    def fitness(mask):
        calls.append(1)
        return onemax_sparse(mask)

    resumed = run(5, fitness, known=known)
    assert trace(resumed) == trace(full)
    assert len(calls) == 60 - 25
    assert sum(e.replayed for e in resumed.evaluations) == 25


@pytest.mark.parametrize("mutation", ["one_bit", "per_bit"])
def test_ga_finds_the_toy_optimum(mutation):
    state = run(0, mutation=mutation, per_bit_prob=0.05, max_evaluations=300, population_size=10)
    assert state.best.fitness.values[0] == 1.0


def test_batched_evaluation_gives_the_same_run():
    batches = []

    def many(masks):
        batches.append(len(masks))
        return [onemax_sparse(m) for m in masks]

    serial = run(7)
    batched = run(7, evaluate_many=many, batch_size=2)
    assert trace(serial) == trace(batched)
    assert list(serial.logbook) == list(batched.logbook)
    assert max(batches) == 2 and sum(batches) == 60
