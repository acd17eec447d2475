"""NSGA-II (multi-objective EvoPruneDeepTL) on toy objectives: fronts, memo, hypervolume, resume.

The fitness callables here are pure functions of the mask, so the GA's logic
is tested exactly; a real run is in test_pareto_run.py.
"""

import itertools

import numpy as np
import pytest

from evoprune_deap.config import GAConfig, check_objectives
from evoprune_deap.errors import ConfigError
from evoprune_deap.records.directory import RunDirectory, RunLock
from evoprune_deap.run.evolution import evolve
from evoprune_deap.search.evaluator import one_by_one
from evoprune_deap.search.objectives import ParetoObjectives, hypervolume
from evoprune_deap.search.steady_state import run_ga

WEIGHTS = np.array([0.31, 0.17, 0.29, 0.05, 0.11, 0.07])  # distinct subset sums


def weighted(mask):
    """Accuracy-like: the weight of the active bits (a knapsack front against the active fraction)."""
    return float(WEIGHTS[np.asarray(mask, bool)].sum())


def with_ood(mask):
    """Three objectives: a second score that prefers other bits."""
    mask = np.asarray(mask, bool)
    return weighted(mask), {"ood_auroc": float(0.5 + 0.4 * mask[3] + 0.05 * mask[5] - 0.1 * mask[0])}


def brute_force_front(n_bits, objectives, fitness):
    """Every non-empty mask's values, and the set of those no other dominates (by definition)."""
    points = {}
    for bits in itertools.product((0, 1), repeat=n_bits):
        mask = np.array(bits, bool)
        if mask.any():
            result = fitness(mask)
            value, info = result if isinstance(result, tuple) else (result, {})
            points[bits] = objectives.values(value, info, mask)
    signed = {bits: np.asarray(v) * objectives.weights for bits, v in points.items()}
    return {
        bits
        for bits, a in signed.items()
        if not any(np.all(b >= a) and np.any(b > a) for b in signed.values())
    }


def front_of(state, objectives):
    return {tuple(ind) for ind in objectives.front(state.population)}


@pytest.mark.parametrize(
    "names, fitness, seed",
    [
        (("accuracy", "active"), weighted, 0),
        (("accuracy", "active"), weighted, 1),
        (("accuracy", "active", "ood"), with_ood, 2),
    ],
)
def test_nsga2_front_equals_the_brute_force_front(names, fitness, seed):
    objectives = ParetoObjectives(names)
    n_bits = WEIGHTS.size
    truth = brute_force_front(n_bits, objectives, fitness)
    population = 2 * len(truth)  # room for the front and the duplicates NSGA-II keeps
    ga = GAConfig(population=population, evaluations=2**n_bits, init_density=0.5, max_stale_steps=400)
    state = run_ga(one_by_one(fitness), n_bits, ga, np.random.default_rng(seed), objectives=objectives)
    assert front_of(state, objectives) == truth
    # the population is a cut of NSGA-II: never larger than asked, only scored members
    assert len(state.population) == population and all(ind.fitness.valid for ind in state.population)


def test_memo_gives_a_repeated_mask_every_objective():
    calls = []

    def counted(mask):
        calls.append(mask.tobytes())
        return with_ood(mask)

    objectives = ParetoObjectives(("accuracy", "active", "ood"))
    ga = GAConfig(population=6, evaluations=20, init_density=0.5, max_stale_steps=200)
    state = run_ga(one_by_one(counted), WEIGHTS.size, ga, np.random.default_rng(3), objectives=objectives)
    assert state.cache_hits > 0  # 64 masks and a small population: repeats happen
    assert len(calls) == len(set(calls)) == state.n_evaluations  # each mask trained once
    for ind in state.population:  # members that came from the memo carry all three values, correct
        value, info = with_ood(ind.mask)
        assert ind.fitness.values == pytest.approx((value, ind.mask.mean(), info["ood_auroc"]))


def test_empty_mask_gets_the_worst_values_and_never_sits_on_a_front():
    objectives = ParetoObjectives(("accuracy", "active", "ood"))
    assert objectives.values(0.0, {"ood_auroc": 0.5}, np.zeros(5, bool)) == (0.0, 1.0, 0.0)
    both = ParetoObjectives(("accuracy", "active"), is_empty=lambda mask: not mask[:2].any())
    assert both.values(0.0, {}, np.array([0, 0, 1, 1], bool)) == (0.0, 1.0)


def test_hypervolume_is_deaps_against_the_fixed_reference():
    objectives = ParetoObjectives(("accuracy", "active"))
    make = objectives.individual
    points = [(0.9, 0.5), (0.6, 0.25), (0.95, 1.0), (0.0, 0.1)]
    members = []
    for values in points:
        ind = make([1])
        ind.fitness.values = values
        members.append(ind)
    # area under the staircase of (1 - active, accuracy): 0.9 * 0.5 + 0.6 * (0.75 - 0.5)
    assert objectives.hypervolume(members) == pytest.approx(0.9 * 0.5 + 0.6 * 0.25)
    assert hypervolume([], objectives.reference, objectives.weights) == 0.0


def test_logbook_records_the_hypervolume_of_everything_evaluated_so_far():
    objectives = ParetoObjectives(("accuracy", "active"))
    ga = GAConfig(population=8, evaluations=40, init_density=0.5, max_stale_steps=400)
    seen = []
    state = run_ga(
        lambda masks: (seen.append(m) or weighted(m) for m in masks),
        WEIGHTS.size,
        ga,
        np.random.default_rng(5),
        objectives=objectives,
    )
    volumes = state.logbook.select("hypervolume")
    assert len(volumes) == len(seen) == state.n_evaluations
    assert all(b >= a for a, b in zip(volumes, volumes[1:])) and volumes[-1] > volumes[0]
    for n in (1, 10, len(seen)):  # recomputed from scratch over the first n masks
        members = []
        for mask in seen[:n]:
            ind = objectives.individual(mask)
            ind.fitness.values = objectives.values(weighted(mask), {}, mask)
            members.append(ind)
        assert volumes[n - 1] == pytest.approx(objectives.hypervolume(members))
        assert state.logbook[n - 1]["front_size"] == len({tuple(ind) for ind in objectives.front(members)})


def test_persisted_multiobjective_run_is_seeded_and_resumes_identically(tmp_path):
    ga = GAConfig(population=8, evaluations=30, init_density=0.5, objectives=("accuracy", "active", "ood"))

    def run(path, **kwargs):
        path.mkdir(exist_ok=True)
        with RunLock(str(path)):
            return evolve(
                one_by_one(with_ood),
                WEIGHTS.size,
                ga,
                seed=4,
                run_dir=RunDirectory(path),
                with_ood=True,
                **kwargs,
            )

    whole = run(tmp_path / "a")
    log = (tmp_path / "a" / RunDirectory.EVALUATIONS).read_bytes()
    lines = log.splitlines(keepends=True)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / RunDirectory.EVALUATIONS).write_bytes(
        b"".join(lines[:12]) + lines[12][:9]
    )  # killed mid-row
    resumed = run(tmp_path / "b", resume=True)
    assert (tmp_path / "b" / RunDirectory.EVALUATIONS).read_bytes() == log
    assert list(resumed.logbook) == list(whole.logbook)
    assert [ind.fitness.values for ind in resumed.population] == [
        ind.fitness.values for ind in whole.population
    ]
    assert "ood_auroc" in log.splitlines()[0].decode()


@pytest.mark.parametrize(
    "names, words",
    [
        (["accuracy"], "one objective"),
        (["accuracy", "speed"], "speed"),
        (["active", "ood"], "leave out accuracy"),
        (["accuracy", "accuracy"], "distinct"),
        ("", "distinct"),
    ],
)
def test_bad_objectives_are_refused(names, words):
    with pytest.raises(ConfigError, match=words):
        check_objectives(names)
    assert check_objectives("ood, accuracy") == ("accuracy", "ood")


def test_nsga2_with_pairs_in_flight_depends_only_on_the_seed():
    objectives = ParetoObjectives(("accuracy", "active", "ood"))
    ga = GAConfig(population=10, evaluations=40, init_density=0.5, in_flight=3, objectives=objectives.names)

    def batched(masks):  # all results of a ticket at once, like a cluster returning a batch
        return iter([with_ood(mask) for mask in masks])

    runs = [
        run_ga(
            evaluate,
            WEIGHTS.size,
            ga,
            np.random.default_rng(8),
            objectives=ParetoObjectives(objectives.names),
        )
        for evaluate in (one_by_one(with_ood), batched)
    ]
    assert [e.mask.tolist() for e in runs[0].history] == [e.mask.tolist() for e in runs[1].history]
    assert list(runs[0].logbook) == list(runs[1].logbook)
    assert runs[0].n_evaluations == 40 or runs[0].stop_reason == "stale"


def test_two_sources_of_ood_images_are_refused():
    from evoprune_deap.config import DataConfig

    with pytest.raises(ConfigError, match="not ood_dataset and ood_images"):
        DataConfig(ood_dataset="fashion-mnist", ood_images="some/folder")
    with pytest.raises(ConfigError, match="ood_max_images"):
        DataConfig(ood_images="some/folder", ood_max_images=5)


def test_an_ensemble_window_holding_no_front_member_is_one_clear_error():
    """Three members at 0.746, 0.765, 0.771: no accuracy lies between the 85th and 95th percentiles."""
    import pandas as pd

    from evoprune_deap.compare.front import window_members
    from evoprune_deap.errors import EvopruneError

    front = pd.DataFrame({"accuracy": [0.746, 0.765, 0.771], "n_active": [10, 20, 30]})
    assert window_members(front, 0, 100) == [0, 1, 2]
    assert window_members(front, 90, 100) == [2]
    with pytest.raises(EvopruneError, match=r"window 85-95 .*0\.7460-0\.7710\); widen --window"):
        window_members(front, 85, 95)
