"""experiments/budget_effect.py: the same campaign at two training budgets, paired by (encoding, seed)."""

import json
import os
import runpy

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "experiments", "budget_effect.py")


def _summary(root, encoding, seed, ga, unpruned, searched=None):
    run = root / encoding / f"seed{seed}"
    run.mkdir(parents=True)
    summary = {
        "encoding": encoding,
        "seed": seed,
        "n_active": 10,
        "test_accuracy": ga,
        "holdout_accuracy": ga,
    }
    summary.update(unpruned_test_accuracy=unpruned, unpruned_holdout_accuracy=unpruned)
    if (
        searched is not None
    ):  # a run with a final re-evaluation: it shipped another mask than the search's best
        summary.update(search_best_test_accuracy=searched, search_best_holdout_accuracy=searched)
        summary.update(search_best_n_active=20)
    (run / "summary.json").write_text(json.dumps(summary))


def test_budgets_are_paired_by_seed_and_read_the_searchs_own_best(tmp_path):
    script = runpy.run_path(SCRIPT)
    short, long = tmp_path / "short", tmp_path / "long"
    for seed in range(3):  # short: shipped 0.50 after re-evaluation, the search's best 0.70 + seed/100
        _summary(short, "fc1", seed, 0.50, 0.70, searched=0.70 + seed / 100)
        _summary(long, "fc1", seed, 0.72 + 2 * seed / 100, 0.71)
    _summary(long, "fc1", 7, 0.99, 0.10)  # no short run with seed 7: not paired
    pairs = script["paired"](script["read_runs"](str(short)), script["read_runs"](str(long)))
    assert list(pairs["seed"]) == [0, 1, 2] and list(pairs["n_active_short"]) == [20, 20, 20]
    table = script["differences"](pairs).set_index(["figure", "head"])
    ga = table.loc[("test_accuracy", "ga")]
    assert ga["mean_difference"] == pytest.approx(100 * np.mean([0.02, 0.03, 0.04]))  # 0.72 + 2s - (0.70 + s)
    assert table.loc[("test_accuracy", "unpruned"), "mean_difference"] == pytest.approx(1.0)
    assert table.loc[("test_accuracy", "ga_minus_unpruned"), "mean_difference"] == pytest.approx(2.0)
    assert ga["ci_low"] < ga["mean_difference"] < ga["ci_high"] and 0 <= table["p_holm"].min() <= 1
