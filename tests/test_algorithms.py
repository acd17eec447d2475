"""The steady-state GA loop and its evaluator, on toy fitness functions."""

import random

import numpy as np
import pytest

from evoprune_deap.config import GAConfig
from evoprune_deap.search.bits import mask_key
from evoprune_deap.search.callbacks import Callback
from evoprune_deap.search.evaluator import one_by_one
from evoprune_deap.search.individual import Individual, sort_key
from evoprune_deap.search.steady_state import run_ga


def onemax_sparse(mask):
    """Toy fitness: the first 8 bits matter; ties favour fewer bits (via sort_key)."""
    return float(mask[:8].mean())


def run(seed, fitness=onemax_sparse, n_bits=32, callbacks=(), known=None, evaluate_many=None, **ga):
    config = GAConfig(**{"population": 8, "evaluations": 60, **ga})
    return run_ga(
        evaluate_many or one_by_one(fitness),
        n_bits,
        config,
        np.random.default_rng(seed),
        callbacks=callbacks,
        known=known,
    )


def trace(state):
    return [(e.index, e.fitness, e.mask.tobytes()) for e in state.history]


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

    state = run(0, fitness, evaluations=40)
    assert state.n_evaluations == len(calls) == 40
    assert len(set(calls)) == 40  # the memo never recomputes a mask
    assert state.stop_reason == "budget"


def test_stops_when_every_child_is_a_cache_hit():
    state = run(0, lambda m: float(m.sum()), n_bits=3, population=4, evaluations=100, max_stale_steps=50)
    assert state.stop_reason == "stale"
    assert state.n_evaluations <= 8  # only 8 masks of 3 bits exist


def test_replacement_never_makes_the_population_worse():
    class WorstWatcher(Callback):
        def __init__(self):
            self.worst = []

        def on_evaluation(self, evaluation, state):
            if len(state.population) == 8 and all(ind.fitness.valid for ind in state.population):
                self.worst.append(min(sort_key(ind) for ind in state.population))

    watcher = WorstWatcher()
    run(4, callbacks=[watcher], evaluations=80)
    assert len(watcher.worst) > 40 and watcher.worst == sorted(watcher.worst)


def test_best_breaks_ties_by_fewer_active_bits():
    a, b = Individual([1, 1, 0, 0]), Individual([1, 0, 0, 0])
    a.fitness.values = b.fitness.values = (0.5,)
    assert max([a, b], key=sort_key) is b


def test_callback_can_stop_the_run():
    class StopAtTen(Callback):
        def on_evaluation(self, evaluation, state):
            return state.n_evaluations >= 10

    calls = []
    state = run(0, lambda mask: calls.append(1) or onemax_sparse(mask), callbacks=[StopAtTen()])
    assert state.n_evaluations == 10 and state.stop_reason == "callback"
    assert len(calls) == 10  # nothing evaluated after the stop
    assert all(ind.fitness.valid for ind in state.population)


def test_global_reseeding_inside_fitness_does_not_change_the_ga_stream():
    def reseeding(mask):
        random.seed(0)
        np.random.seed(0)  # what keras.utils.set_random_seed does
        return onemax_sparse(mask)

    assert trace(run(3)) == trace(run(3, reseeding))


def test_known_results_replay_exactly():
    full = run(5)
    known = {mask_key(e.mask): (e.fitness, {}) for e in full.history[:25]}
    calls = []

    def fitness(mask):
        calls.append(1)
        return onemax_sparse(mask)

    resumed = run(5, fitness, known=known)
    assert trace(resumed) == trace(full)
    assert len(calls) == 60 - 25
    assert sum(e.replayed for e in resumed.history) == 25


@pytest.mark.parametrize("mutation", ["one_bit", "per_bit"])
def test_ga_finds_the_toy_optimum(mutation):
    state = run(0, mutation=mutation, per_bit_prob=0.05, evaluations=300, population=10)
    assert state.best.fitness.values[0] == 1.0


def test_batches_are_the_initial_population_then_pairs_and_give_the_same_run():
    batches = []

    def many(masks):
        batches.append(len(masks))
        return [onemax_sparse(m) for m in masks]

    serial = run(7)
    batched = run(7, evaluate_many=many)
    assert trace(serial) == trace(batched)
    assert list(serial.logbook) == list(batched.logbook)
    assert batches[0] == 8 and max(batches[1:]) == 2 and sum(batches) == 60


class Eager:
    """evaluate_many that starts every mask on a thread pool at submission, finishing in random order."""

    def __init__(self, seed, workers=4):
        from concurrent.futures import ThreadPoolExecutor

        self.pool, self.rng = ThreadPoolExecutor(workers), np.random.default_rng(seed)

    def __call__(self, masks):
        import time

        delays = self.rng.random(len(masks)) * 0.002
        futures = [
            self.pool.submit(lambda m, d: time.sleep(d) or onemax_sparse(m), m, d)
            for m, d in zip(masks, delays)
        ]
        return (future.result() for future in futures)


@pytest.mark.parametrize("k", [2, 5])
def test_pipelined_run_depends_only_on_seed_and_fitness(k):
    serial = run(11, in_flight=k, n_bits=64, evaluations=80)
    threaded = run(11, in_flight=k, n_bits=64, evaluations=80, evaluate_many=Eager(seed=3))
    other_order = run(11, in_flight=k, n_bits=64, evaluations=80, evaluate_many=Eager(seed=4, workers=2))
    assert trace(serial) == trace(threaded) == trace(other_order)
    assert list(serial.logbook) == list(threaded.logbook)
    assert serial.n_evaluations == 80 and len({e.mask.tobytes() for e in serial.history}) == 80
    assert trace(serial) != trace(run(11, n_bits=64, evaluations=80))  # K changes the search


def test_pair_s_is_bred_after_pair_s_minus_k_is_integrated():
    events = []

    class Results(Callback):
        def on_evaluation(self, evaluation, state):
            events.append("result")

    def many(masks):
        events.append("submit")
        return [onemax_sparse(m) for m in masks]

    k, population = 3, 8
    run(
        2,
        n_bits=256,
        population=population,
        evaluations=40,
        in_flight=k,
        evaluate_many=many,
        callbacks=[Results()],
    )
    assert events[0] == "submit"  # the initial population, at once
    submits = [i for i, event in enumerate(events) if event == "submit"][1:]
    assert len(submits) == (40 - population) // 2
    for s, position in enumerate(submits):  # pair s (0-based) waits for pairs up to s - k
        # pairs 0..k-1 need only the initial genomes; later ones their fitness and pairs up to s - k
        expected = 0 if s < k else population + 2 * (s - k + 1)
        assert events[:position].count("result") == expected


def test_callback_stop_abandons_the_pairs_in_flight():
    class StopAt(Callback):
        def on_evaluation(self, evaluation, state):
            return state.n_evaluations >= 15

    state = run(0, in_flight=4, n_bits=64, callbacks=[StopAt()])
    assert state.n_evaluations == 15 and state.stop_reason == "callback"


def test_a_fitness_that_raises_is_one_clear_error_naming_the_mask():
    from evoprune_deap.errors import EvopruneError

    def broken(mask):
        if mask.sum() > 20:
            raise FloatingPointError("nan loss")
        return onemax_sparse(mask)

    with pytest.raises(
        EvopruneError,
        match=r"fitness of mask [0-9a-f]{16} \(\d+ active of 32\) failed: "
        r"FloatingPointError: nan loss",
    ):
        run(0, broken)


def test_knee_index_is_the_member_farthest_above_the_line_between_the_ends():
    import numpy as np

    from evoprune_deap.search.ranking import knee_index

    active = np.array([0.05, 0.2, 0.5, 0.9])
    accuracy = np.array([0.60, 0.78, 0.80, 0.81])  # a sharp bend at 20% active
    assert knee_index(active, accuracy) == 1
    assert knee_index(active[::-1], accuracy[::-1]) == 2  # order does not matter
    assert knee_index(np.array([0.1, 0.9]), np.array([0.7, 0.8])) == 1  # two members: the most accurate
    assert (
        knee_index(np.array([0.1, 0.5, 0.9]), np.array([0.8, 0.8, 0.8])) == 0
    )  # flat: the most accurate (first)
