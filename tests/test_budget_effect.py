"""experiments/budget_effect.py: one campaign at two training budgets, paired by (dataset, encoding, seed)."""

import json
import os
import runpy

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "experiments", "budget_effect.py")


def _summary(root, encoding, seed, ga, unpruned, searched=None, source="toy", holdout=True):
    run = root / encoding / f"seed{seed}"
    run.mkdir(parents=True)
    summary = {"source": source, "encoding": encoding, "seed": seed, "n_active": 10, "test_accuracy": ga}
    summary.update(unpruned_test_accuracy=unpruned)
    summary.update(
        holdout_accuracy=ga if holdout else None, unpruned_holdout_accuracy=unpruned if holdout else None
    )
    # a run with a final re-evaluation shipped another mask than the search's best, and records both
    if searched is not None:
        summary.update(search_best_test_accuracy=searched, search_best_n_active=20)
        if holdout:
            summary.update(search_best_holdout_accuracy=searched)
    (run / "summary.json").write_text(json.dumps(summary))


def test_budgets_are_paired_by_seed_and_read_the_searchs_own_best(tmp_path):
    script = runpy.run_path(SCRIPT)
    short, long = tmp_path / "short", tmp_path / "long"
    for seed in range(3):  # short: shipped 0.50 after re-evaluation, the search's best 0.70 + seed/100
        _summary(short, "fc1", seed, 0.50, 0.70, searched=0.70 + seed / 100)
        _summary(long, "fc1", seed, 0.72 + 2 * seed / 100, 0.71)
    _summary(long, "fc1", 7, 0.99, 0.10)  # no short run with seed 7: not paired
    _summary(long, "fs", 0, 0.99, 0.10, source="another dataset")  # nor a run of another dataset
    _summary(short, "fs", 0, 0.50, 0.10)
    pairs = script["paired"](script["read_runs"](str(short)), script["read_runs"](str(long)))
    assert list(pairs["seed"]) == [0, 1, 2] and list(pairs["n_active_short"]) == [20, 20, 20]
    table = script["differences"](pairs).set_index(["figure", "head"])
    ga = table.loc[("test_accuracy", "ga")]
    assert ga["mean_difference"] == pytest.approx(100 * np.mean([0.02, 0.03, 0.04]))  # 0.72 + 2s - (0.70 + s)
    assert table.loc[("test_accuracy", "unpruned"), "mean_difference"] == pytest.approx(1.0)
    assert table.loc[("test_accuracy", "ga_minus_unpruned"), "mean_difference"] == pytest.approx(2.0)
    assert ga["ci_low"] < ga["mean_difference"] < ga["ci_high"] and 0 <= table["p_holm"].min() <= 1


def test_campaigns_without_a_hold_out_give_the_test_rows_only(tmp_path):
    script = runpy.run_path(SCRIPT)
    for seed in range(3):
        _summary(tmp_path / "short", "fs", seed, 0.70, 0.70, searched=0.71, holdout=False)
        _summary(tmp_path / "long", "fs", seed, 0.72 + seed / 100, 0.70, holdout=False)
    table = script["differences"](
        script["paired"](
            script["read_runs"](str(tmp_path / "short")), script["read_runs"](str(tmp_path / "long"))
        )
    )
    assert set(table["figure"]) == {"test_accuracy"} and len(table) == 3


def test_an_empty_campaign_folder_is_one_line(tmp_path):
    script = runpy.run_path(SCRIPT)
    _summary(tmp_path / "long", "fc1", 0, 0.7, 0.7)
    with pytest.raises(SystemExit, match="No \\(dataset, encoding, seed\\) finished in both"):
        script["main"]([str(tmp_path / "typo"), str(tmp_path / "long")])
