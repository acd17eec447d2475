"""Issue 15: the linear probe, the hold-out of the optimism audit, and paired statistics."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from evoprune_deap.compare.baselines import LINEAR_PROBE_C, linear_probe
from evoprune_deap.config import HeadConfig
from evoprune_deap.evaluation.fitness import MaskFitness
from evoprune_deap.head.masks import Encoding
from evoprune_deap.report.statistics import NO_DIFFERENCE, paired_differences
from evoprune_deap.report.tables import method_table, optimism_table
from evoprune_deap.search.bits import mask_key
from evoprune_deap.seeding import derive_seed


def test_holdout_is_carved_from_train_stratified_and_seen_by_nothing(faces_features):
    held = faces_features.with_holdout(0.2, seed=3)
    before, after = faces_features.splits[0], held.splits[0]
    assert np.array_equal(after.val, before.val) and np.array_equal(after.test, before.test)
    assert np.array_equal(np.sort(np.concatenate([after.train, after.holdout])), before.train)
    assert not np.intersect1d(after.train, after.holdout).size
    labels = faces_features.labels
    for label in np.unique(labels[before.train]):  # every class keeps its share, within one image
        share = np.mean(labels[after.holdout] == label) - np.mean(labels[before.train] == label)
        assert abs(share) < 2 / after.holdout.size
    again = faces_features.with_holdout(0.2, seed=3)  # the same seed carves the same images
    assert np.array_equal(again.splits[0].holdout, after.holdout)
    other = faces_features.with_holdout(0.2, seed=4)
    assert not np.array_equal(other.splits[0].holdout, after.holdout)
    assert held.metadata["key"] != faces_features.metadata.get("key")  # a run cannot resume across carves
    assert faces_features.with_holdout(0.0, 3) is faces_features


def test_a_head_is_scored_on_the_holdout_only_with_the_test(faces_features):
    held = faces_features.with_holdout(0.2, seed=0)
    encoding = Encoding("fc1", held.n_features, (16,))
    config = HeadConfig(hidden_units=(16,), max_epochs=2)
    fitness = MaskFitness(held, encoding, config, "honest", 0)
    mask = encoding.full_mask()
    assert fitness.score(mask, with_test=False).holdout_accuracy is None
    score = fitness.score(mask, with_test=True)
    arrays = held.arrays()
    head = fitness.trainer.train(
        encoding.head_masks(mask), *arrays["train"], derive_seed(0, "mask", mask_key(mask), 0)
    )  # the same head, by hand
    assert score.holdout_accuracy == pytest.approx(head.accuracy(*arrays["holdout"]))
    assert score.test_accuracy == pytest.approx(head.accuracy(*arrays["test"]))
    plain = MaskFitness(faces_features, encoding, config, "honest", 0)
    assert plain.score(mask, with_test=True).holdout_accuracy is None


def test_linear_probe_picks_the_strength_with_the_best_validation_accuracy(faces_features):
    held = faces_features.with_holdout(0.2, seed=0)
    probe = linear_probe(held)
    arrays = held.arrays()
    val = {}
    for c in LINEAR_PROBE_C:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(*arrays["train"])
        val[c] = model.score(*arrays["val"])
    assert probe["C"] == max(LINEAR_PROBE_C, key=lambda c: (val[c], -c))  # ties: the stronger penalty
    assert probe["val_accuracy"] == pytest.approx(val[probe["C"]])
    chosen = make_pipeline(StandardScaler(), LogisticRegression(C=probe["C"], max_iter=2000)).fit(
        *arrays["train"]
    )
    assert probe["test_accuracy"] == pytest.approx(chosen.score(*arrays["test"]))
    assert probe["holdout_accuracy"] == pytest.approx(chosen.score(*arrays["holdout"]))


def _campaign(gap: float, n_seeds: int = 5, noise: float = 0.005, seed: int = 0) -> pd.DataFrame:
    """Synthetic runs table: the GA = unpruned + gap, each seed with its own level and noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_seeds):
        level = 0.8 + rng.normal(0, 0.02)  # seeds differ a lot; pairing removes it
        for method, value in (
            ("ga", level + gap + rng.normal(0, noise)),
            ("unpruned", level),
            ("linear_probe", level + rng.normal(0, noise)),
        ):
            rows.append(
                {
                    "dataset": "toy",
                    "protocol": "honest",
                    "encoding": "fc1",
                    "seed": s,
                    "method": method,
                    "test_accuracy": value,
                }
            )
    return pd.DataFrame(rows)


def test_a_planted_two_point_gap_is_detected_and_a_zero_gap_is_not():
    planted = paired_differences(_campaign(0.02)).set_index("method")
    row = planted.loc["unpruned"]
    assert row["n_seeds"] == 5 and row["mean_difference"] == pytest.approx(0.02, abs=0.01)
    assert row["ci_low"] > 0 and row["p_value"] < 0.05 and row["verdict"] == "ga higher"
    # the probe has the same level as the GA minus the gap: the GA is also detectably higher
    assert planted.loc["linear_probe", "verdict"] == "ga higher"
    for seed in range(5):
        none = paired_differences(_campaign(0.0, seed=seed)).set_index("method")
        assert none.loc["unpruned", "ci_low"] <= 0 <= none.loc["unpruned", "ci_high"]
        assert none.loc["unpruned", "verdict"] == NO_DIFFERENCE
    lower = paired_differences(_campaign(-0.03)).set_index("method")
    assert lower.loc["unpruned", "verdict"] == "ga lower" and lower.loc["unpruned", "ci_high"] < 0


def test_a_multiobjective_campaign_is_paired_from_its_nsga2_rows():
    runs = _campaign(0.02)
    runs["method"] = runs["method"].replace({"ga": "nsga2"})
    planted = paired_differences(runs).set_index("method")
    assert set(planted["reference"]) == {"nsga2"} and planted.loc["unpruned", "verdict"] == "nsga2 higher"
    both = pd.concat(
        [_campaign(0.02), runs[runs["method"] == "nsga2"]]
    )  # beside the GA: the GA is the reference
    paired = paired_differences(both).set_index("method")
    assert set(paired["reference"]) == {"ga"} and paired.loc["nsga2", "verdict"] == NO_DIFFERENCE


def test_the_interval_is_the_t_interval_of_the_paired_differences():
    runs = _campaign(0.01, n_seeds=4)
    row = paired_differences(runs).set_index("method").loc["unpruned"]
    wide = runs.pivot(index="seed", columns="method", values="test_accuracy")
    d = (wide["ga"] - wide["unpruned"]).to_numpy()
    half = 3.182446305284263 * d.std(ddof=1) / np.sqrt(4)  # t(0.975, 3)
    assert row["ci_low"] == pytest.approx(d.mean() - half) and row["ci_high"] == pytest.approx(
        d.mean() + half
    )
    for n in (1, 2):  # two seeds: a t interval 12.7 standard errors wide, no verdict either
        few = paired_differences(_campaign(0.01, n_seeds=n)).set_index("method").loc["unpruned"]
        assert few["n_seeds"] == n and np.isnan(few["ci_low"]) and few["verdict"] == "too few seeds"
    same = _campaign(0.0, n_seeds=3, noise=0.0)
    same.loc[same["method"] == "ga", "test_accuracy"] += 0.01  # the same +1 point in every seed
    row = paired_differences(same).set_index("method").loc["unpruned"]
    assert row["ci_low"] == pytest.approx(0.01) == row["ci_high"] and np.isnan(row["p_value"])


def test_method_table_carries_the_differences_and_the_verdict():
    runs = _campaign(0.02)
    summary = (
        runs.groupby(["dataset", "protocol", "encoding", "method"], sort=False)["test_accuracy"]
        .agg(["mean", "std"])
        .add_prefix("test_accuracy_")
        .reset_index()
    )
    table = method_table(summary, paired_differences(runs))
    cell = table.loc[("toy", "honest", "fc1"), "unpruned"]
    assert cell.startswith(f"{summary.iloc[1]['test_accuracy_mean']:.3f}") and "(Δ +" in cell and "p=" in cell
    assert "unpruned: ga higher" in table.loc[("toy", "honest", "fc1"), "paired verdict (95%)"]
    quiet = method_table(summary.assign(test_accuracy_mean=0.8), paired_differences(_campaign(0.0)))
    assert quiet.iloc[0]["paired verdict (95%)"] == f"{NO_DIFFERENCE} from any baseline"


def test_optimism_is_reported_minus_holdout_per_run_and_averaged():
    rows = []
    biases = {"honest": (0.0, 0.0, 0.0), "paper": (0.01, 0.03, 0.05)}  # the GA's optimism, per seed
    for protocol, per_seed in biases.items():
        for s in range(3):
            for method in ("ga", "unpruned"):
                test = 0.8 + (per_seed[s] if method == "ga" else 0) + s / 100
                rows.append(
                    {
                        "dataset": "toy",
                        "protocol": protocol,
                        "encoding": "fc1",
                        "seed": s,
                        "method": method,
                        "test_accuracy": test,
                        "holdout_accuracy": 0.8 + s / 100,
                    }
                )
    runs = pd.DataFrame(rows)
    runs["optimism"] = runs["test_accuracy"] - runs["holdout_accuracy"]
    table = optimism_table(runs)
    assert table.loc[("toy", "fc1", "paper"), "optimism"] == "+3.0 ± 2.0 pt"  # mean and std of 1, 3, 5
    assert table.loc[("toy", "fc1", "honest"), "optimism"] == "+0.0 ± 0.0 pt"
    assert table.loc[("toy", "fc1", "paper"), "seeds"] == 3
    assert table.loc[("toy", "fc1", "paper"), "unpruned optimism"] == "+0.0 ± 0.0 pt"
    assert table.loc[("toy", "fc1", "paper"), "gain over unpruned, test"] == "+3.0 ± 2.0 pt"
    assert table.loc[("toy", "fc1", "paper"), "gain over unpruned, hold-out"] == "+0.0 ± 0.0 pt"
    assert optimism_table(runs.assign(holdout_accuracy=np.nan)).empty


def test_the_difference_plot_draws_each_mean_and_interval():
    from evoprune_deap.report.plots import plot_differences

    differences = paired_differences(_campaign(0.02))
    fig = plot_differences(differences)
    (ax,) = fig.axes
    drawn = ax.lines[0].get_xdata()  # the markers: mean differences in points, in the table's order
    np.testing.assert_allclose(drawn, 100 * differences["mean_difference"].to_numpy())
    assert [t.get_text() for t in ax.get_yticklabels()] == list(differences["method"])


def test_a_train_subset_is_stratified_keeps_every_test_image_and_loads_the_chosen_ones(tmp_path):
    from conftest import write_digits_folder

    from evoprune_deap.data.images.sources import load_source

    write_digits_folder(tmp_path / "train", n_per_class=10, classes=(0, 1, 2))
    write_digits_folder(tmp_path / "test", n_per_class=3, classes=(0, 1, 2))
    whole = load_source(images=str(tmp_path / "train"), test_images=str(tmp_path / "test"))
    part = load_source(
        images=str(tmp_path / "train"), test_images=str(tmp_path / "test"), train_subset=12, subset_seed=5
    )
    train = part.partition == 0
    assert train.sum() == 12 and np.bincount(part.labels[train]).tolist() == [4, 4, 4]
    assert (~train).sum() == 9  # the test images, all of them
    assert part.name.endswith("-12") and part.fingerprint != whole.fingerprint
    assert part.spec["train_subset"] == 12
    images = part.load(np.arange(part.n_samples), 16)
    originals = whole.load(np.arange(whole.n_samples), 16)
    matches = [int(np.flatnonzero((originals == image).all(axis=(1, 2, 3)))[0]) for image in images]
    assert np.array_equal(whole.labels[matches], part.labels)  # each image is the one its label says
    again = load_source(
        images=str(tmp_path / "train"), test_images=str(tmp_path / "test"), train_subset=12, subset_seed=5
    )
    assert np.array_equal(again.labels, part.labels) and again.fingerprint == part.fingerprint


def test_equal_differences_with_float_noise_are_a_point_interval_not_p_zero():
    rows = []
    for seed, (ga, base) in enumerate([(0.8301, 0.8244), (0.8317, 0.8260), (0.8299, 0.8242)]):
        rows += [
            {
                "dataset": "toy",
                "protocol": "paper",
                "encoding": "fc1",
                "seed": seed,
                "method": "ga",
                "test_accuracy": ga,
            },
            {
                "dataset": "toy",
                "protocol": "paper",
                "encoding": "fc1",
                "seed": seed,
                "method": "unpruned",
                "test_accuracy": base,
            },
        ]
    row = paired_differences(pd.DataFrame(rows)).set_index("method").loc["unpruned"]
    assert row["ci_low"] == row["ci_high"] == pytest.approx(0.0057) and np.isnan(row["p_value"])
