"""Fitness that ranks masks, not seeds: common seeds, repeated and cross-validated scores."""

import os

import numpy as np
import pandas as pd
import pytest

from evoprune_deap.config import FitnessConfig, HeadConfig, from_dict, load_config
from evoprune_deap.errors import ConfigError
from evoprune_deap.evaluation.fitness import MaskFitness
from evoprune_deap.head.masks import Encoding
from evoprune_deap.head.trainer import HeadTrainer
from evoprune_deap.head.weights import HeadWeights
from evoprune_deap.records.evaluation_log import read_log
from evoprune_deap.run.experiment import run_experiment
from evoprune_deap.search.bits import mask_key
from evoprune_deap.seeding import derive_seed

HEAD = HeadConfig(hidden_units=(24, 12), max_epochs=4)


def _fitness(features, name="fc1", **options):
    encoding = Encoding(name, features.n_features, HEAD.hidden_units if name != "fs" else (24,))
    head = HEAD if name != "fs" else HeadConfig(hidden_units=(24,), max_epochs=4)
    return MaskFitness(
        features, encoding, head, "honest", seed=5, fitness_config=FitnessConfig(**options), split_seed=0
    ), encoding


def _bits(encoding, seed, density=0.5):
    return np.random.default_rng(seed).random(encoding.n_bits) < density


@pytest.mark.parametrize("name", ["fc1", "fs"])
def test_common_seeds_give_two_masks_the_same_sliced_initial_draw(faces_features, name):
    fitness, encoding = _fitness(faces_features, name, seeds="common")
    first, second = _bits(encoding, 1), _bits(encoding, 2)
    assert fitness.training_seed(first, 0) == fitness.training_seed(second, 0) == derive_seed(5, "common", 0)
    per_mask, _ = _fitness(faces_features, name)
    assert per_mask.training_seed(first, 0) != per_mask.training_seed(second, 0)
    seed = fitness.training_seed(first, 0)
    full = HeadWeights.glorot((faces_features.n_features, *encoding.hidden_units, 2), seed, False)
    trainer = HeadTrainer(faces_features.n_features, 2, fitness.trainer.config)
    for bits in (first, second):
        masks = encoding.head_masks(bits)
        for got, want in zip(trainer.initial_weights(masks, seed).to_list(), full.select(masks).to_list()):
            np.testing.assert_array_equal(got, want)
    # the units both masks keep start from the same weights
    both = encoding.head_masks(first & second)
    if name == "fc1":
        kernel = full.kernels[0][:, both.hidden[0]]
        a = trainer.initial_weights(encoding.head_masks(first), seed).kernels[0]
        b = trainer.initial_weights(encoding.head_masks(second), seed).kernels[0]
        keep_a = np.flatnonzero(first)[np.isin(np.flatnonzero(first), np.flatnonzero(first & second))]
        np.testing.assert_array_equal(a[:, np.isin(np.flatnonzero(first), keep_a)], kernel)
        np.testing.assert_array_equal(b[:, np.isin(np.flatnonzero(second), keep_a)], kernel)


def test_repeats_are_the_mean_of_their_trainings_computed_independently(faces_features):
    fitness, encoding = _fitness(faces_features, repeats=3)
    bits = _bits(encoding, 3)
    value, info = fitness(bits)
    masks = encoding.head_masks(bits)
    (x, y), (xv, yv) = faces_features.arrays()["train"], faces_features.arrays()["val"]
    trainer = HeadTrainer(faces_features.n_features, 2, HEAD)
    seeds = [derive_seed(5, "mask", mask_key(bits), 0)] + [
        derive_seed(5, "mask", mask_key(bits), 0, r) for r in (1, 2)
    ]
    scores = [trainer.train(masks, x, y, seed).accuracy(xv, yv) for seed in seeds]
    assert len(set(seeds)) == 3
    assert value == pytest.approx(np.mean(scores), abs=1e-12)
    assert info["spread"] == pytest.approx(np.std(scores, ddof=1), abs=1e-12)
    assert info["epochs"] == 12
    single, _ = _fitness(faces_features)
    assert single(bits)[0] == scores[0]  # repeat 0 is the single training


def test_common_seeds_with_repeats_train_each_repeat_from_its_own_seed(faces_features):
    """Every mask shares repeat r's seed, but repeats differ: the mean and spread of R real, different
    trainings, each recomputed here from its own seed."""
    fitness, encoding = _fitness(faces_features, seeds="common", repeats=3)
    bits = _bits(encoding, 3)
    value, info = fitness(bits)
    (x, y), (xv, yv) = faces_features.arrays()["train"], faces_features.arrays()["val"]
    trainer, masks = HeadTrainer(faces_features.n_features, 2, HEAD), encoding.head_masks(bits)
    seeds = [derive_seed(5, "common", 0)] + [derive_seed(5, "common", 0, r) for r in (1, 2)]
    heads = [trainer.train(masks, x, y, seed) for seed in seeds]
    scores = [head.accuracy(xv, yv) for head in heads]
    assert not np.array_equal(heads[0].weights.kernels[0], heads[1].weights.kernels[0])
    assert info["spread"] > 0 and info["spread"] == pytest.approx(np.std(scores, ddof=1), abs=1e-12)
    assert value == pytest.approx(np.mean(scores), abs=1e-12)
    assert fitness.training_seed(_bits(encoding, 9), 0, 2) == seeds[2]  # shared by every mask


def test_folds_are_the_mean_of_stratified_cross_validation_computed_independently(faces_features):
    from sklearn.model_selection import StratifiedKFold

    fitness, encoding = _fitness(faces_features, folds=3)
    bits = _bits(encoding, 4)
    score = fitness.score(bits, with_test=True)
    arrays = faces_features.arrays()
    x = np.concatenate([arrays["train"][0], arrays["val"][0]])
    y = np.concatenate([arrays["train"][1], arrays["val"][1]])
    masks, seed = encoding.head_masks(bits), derive_seed(5, "mask", mask_key(bits), 0)
    trainer = HeadTrainer(faces_features.n_features, 2, HEAD)
    parts = StratifiedKFold(3, shuffle=True, random_state=derive_seed(0, "cv", 0)).split(x, y)
    scores = [trainer.train(masks, x[fit], y[fit], seed).accuracy(x[held], y[held]) for fit, held in parts]
    assert score.val_accuracy == pytest.approx(np.mean(scores), abs=1e-12)
    assert score.spread == pytest.approx(np.std(scores, ddof=1), abs=1e-12)
    deployed = trainer.train(masks, x, y, seed)  # the deployed head: refit on all of train + validation
    assert score.test_accuracy == deployed.accuracy(*arrays["test"])
    for got, want in zip(score.weights.to_list(), deployed.weights.to_list()):
        np.testing.assert_array_equal(got, want)
    search = fitness.score(bits, with_test=False)  # the search never trains the refit
    assert (
        search.weights is None and search.epochs < score.epochs and search.val_accuracy == score.val_accuracy
    )


def test_the_test_split_is_never_read_by_cross_validated_fitness(faces_features):
    fitness, encoding = _fitness(faces_features, folds=2)
    test_rows = {row.tobytes() for row in faces_features.arrays()["test"][0]}
    for training in fitness.trainings(0):
        for part in (training.train[0], training.val[0]):
            assert not test_rows & {row.tobytes() for row in part}


def test_options_from_the_command_line_toml_and_presets(tmp_path):
    from evoprune_deap.cli import build_parser, config_from_args

    args = build_parser().parse_args(
        ["run", "--fitness-seeds", "common", "--repeats", "3", "--cv-folds", "4"]
    )
    config = config_from_args(args)
    assert config.fitness == FitnessConfig(seeds="common", repeats=3, folds=4)
    toml = tmp_path / "run.toml"
    toml.write_text('[fitness]\nseeds = "common"\nrepeats = 2\n')
    assert load_config(str(toml)).fitness == FitnessConfig(seeds="common", repeats=2)
    assert load_config(preset="paper").fitness.seeds == "common"
    assert load_config().fitness == FitnessConfig()
    for bad, match in (
        ({"seeds": "shared"}, "seeds"),
        ({"repeats": 0}, "repeats"),
        ({"folds": 1.5}, "folds"),
        ({"folds": 30}, "folds"),
    ):
        with pytest.raises(ConfigError, match=match):
            from_dict({"fitness": bad})
    with pytest.raises(ConfigError, match="paper protocol"):
        from_dict({"fitness": {"folds": 3}, "run": {"protocol": "paper"}})


def test_the_estimator_takes_the_fitness_options(faces_features, tmp_path):
    """Its fits use them: repeats log a spread; common and per-mask seeds train the same masks differently."""
    from evoprune_deap.estimators import EvoPruneClassifier

    x, y = faces_features.features, faces_features.labels
    options = dict(population=4, evaluations=4, max_epochs=2, hidden_units=(16, 8), random_state=0)
    logs = {}
    for seeds in ("common", "per-mask"):
        run_dir = str(tmp_path / seeds)
        model = EvoPruneClassifier(**options, repeats=2, fitness_seeds=seeds, run_dir=run_dir).fit(x, y)
        logs[seeds] = pd.read_csv(os.path.join(run_dir, "evaluations.csv"))
    assert model.score(x, y) > 0.5
    assert (logs["common"]["spread"] > 0).any() and (logs["per-mask"]["spread"] > 0).any()
    # the GA draws the same initial masks from random_state; their fitness differs with the seeds
    first = [log.iloc[:4].set_index("mask_hash")["fitness"] for log in logs.values()]
    assert set(first[0].index) == set(first[1].index) and not first[0].equals(first[1].loc[first[0].index])
    with pytest.raises(ValueError, match="folds"):
        EvoPruneClassifier(cv_folds=1.5, population=4, evaluations=4).fit(x, y)


@pytest.mark.slow
@pytest.mark.parametrize("options", [{"repeats": 2}, {"folds": 2, "seeds": "common"}])
def test_a_run_with_repeats_or_folds_logs_the_spread_and_resumes_identically(
    faces_features, tmp_path, options
):
    config = from_dict(
        {
            "ga": {"population": 4, "evaluations": 8},
            "head": {"max_epochs": 3, "hidden_units": [16, 8]},
            "run": {"seed": 2, "workers": 1},
            "fitness": options,
        }
    )
    whole = run_experiment(config, faces_features, run_dir=str(tmp_path / "whole"))
    log = pd.read_csv(tmp_path / "whole" / "evaluations.csv")
    assert "spread" in log.columns and (log["spread"] >= 0).all() and (log["spread"] > 0).any()
    # a run stopped after 5 evaluations, then resumed, ends as the whole run did
    cut = tmp_path / "cut"
    run_experiment(config, faces_features, run_dir=str(cut))
    lines = (cut / "evaluations.csv").read_text().splitlines(keepends=True)
    (cut / "evaluations.csv").write_text("".join(lines[:6]))
    (cut / "finished.csv").unlink()
    for name in ("summary.json", "best_mask.json", "logbook.json"):
        (cut / name).unlink()
    resumed = run_experiment(config, faces_features, run_dir=str(cut), resume=True)
    # each row's seconds (and so the hash chain, which covers them) are the only fields that may differ
    pd.testing.assert_frame_equal(
        pd.read_csv(cut / "evaluations.csv").drop(columns=["seconds", "check"]),
        log.drop(columns=["seconds", "check"]),
    )
    assert len(read_log(str(cut / "evaluations.csv"))) == len(log)  # the resumed log's chain verifies
    assert resumed.summary.test_accuracy == whole.summary.test_accuracy
    assert np.array_equal(resumed.best_mask, whole.best_mask)
