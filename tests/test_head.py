import numpy as np
import pytest

from evoprune_deap.config import HeadConfig
from evoprune_deap.encodings import Encoding
from evoprune_deap.fitness import EMPTY_MASK_FITNESS, MaskFitness
from evoprune_deap.head import (HeadTrainer, build_masked_head, count_parameters, fit_head,
                                initial_weights, padded_width)

CONFIG = HeadConfig(hidden_units=(32, 16), max_epochs=3, patience=10)


@pytest.mark.parametrize("name", ["fc1", "fc2", "both", "fs"])
def test_physically_pruned_head_equals_masked_full_width_head(faces_features, name):
    x, y = faces_features.arrays()["train"]
    encoding = Encoding(name, faces_features.n_features, CONFIG.hidden_units)
    mask = np.random.default_rng(1).random(encoding.n_bits) < 0.5
    masks = encoding.head_masks(mask)
    trainer = HeadTrainer(x.shape[1], 2, CONFIG)
    trained, epochs = trainer.train(masks, x, y, seed=11)
    pruned = trainer.export(trained, masks)
    reference = build_masked_head(masks, 2, CONFIG, initial_weights(x.shape[1], CONFIG.hidden_units, 2, 11))
    fit_head(reference, x, y, CONFIG, seed=11)
    xv = faces_features.arrays()["val"][0]
    got = np.asarray(pruned.predict(xv, verbose=0))
    want = np.asarray(reference.predict(xv, verbose=0))
    assert epochs == 3
    np.testing.assert_allclose(got, want, atol=1e-5)
    dense = [layer for layer in pruned.layers[-1].layers if "fc" in layer.name]
    assert [layer.kernel.shape[1] for layer in dense] == list(masks.n_active[1:])


def test_reused_model_trains_like_a_fresh_one(faces_features):
    """A second mask of the same padded shape, then the first again: same result."""
    x, y = faces_features.arrays()["train"]
    encoding = Encoding("both", x.shape[1], CONFIG.hidden_units)
    first, second = (np.random.default_rng(s).random(48) < 0.6 for s in (5, 6))
    trainer = HeadTrainer(x.shape[1], 2, CONFIG)
    model, _ = trainer.train(encoding.head_masks(first), x, y, seed=2)
    before = np.asarray(model.predict(trainer._inputs(x, encoding.head_masks(first), model.input_shape[-1]), verbose=0))
    trainer.train(encoding.head_masks(second), x, y, seed=4)
    model, _ = trainer.train(encoding.head_masks(first), x, y, seed=2)
    after = np.asarray(model.predict(trainer._inputs(x, encoding.head_masks(first), model.input_shape[-1]), verbose=0))
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_padded_width_bounds_the_shapes():
    assert [padded_width(n, 512) for n in (0, 1, 16, 17, 500, 512)] == [16, 16, 16, 32, 512, 512]
    assert padded_width(5, 10) == 10


def test_fitness_is_deterministic_and_order_independent(faces_features):
    encoding = Encoding("fc1", faces_features.n_features, CONFIG.hidden_units)
    masks = [np.random.default_rng(s).random(32) < 0.5 for s in range(2)]
    first = MaskFitness(faces_features, encoding, CONFIG, "honest", seed=3)
    second = MaskFitness(faces_features, encoding, CONFIG, "honest", seed=3)
    forward = [first(m)[0] for m in masks]
    backward = [second(m)[0] for m in reversed(masks)][::-1]
    assert forward == backward
    assert 0.0 <= forward[0] <= 1.0


def test_paper_protocol_scores_on_test_and_honest_on_validation(faces_features):
    encoding = Encoding("fc1", faces_features.n_features, CONFIG.hidden_units)
    mask = np.ones(32, dtype=bool)
    honest, info = MaskFitness(faces_features, encoding, CONFIG, "honest", seed=0)(mask)
    paper, _ = MaskFitness(faces_features, encoding, CONFIG, "paper", seed=0)(mask)
    score = MaskFitness(faces_features, encoding, CONFIG, "honest", seed=0).score(mask, with_test=True)
    assert honest == info["val_accuracy"] == score.val_accuracy
    assert paper == score.test_accuracy


@pytest.mark.parametrize("name", ["fc1", "fs"])
def test_mask_with_no_active_unit_gets_the_documented_fitness(faces_features, name):
    encoding = Encoding(name, faces_features.n_features, CONFIG.hidden_units)
    fitness, info = MaskFitness(faces_features, encoding, CONFIG, "honest", seed=0)(np.zeros(encoding.n_bits))
    assert fitness == EMPTY_MASK_FITNESS and info["epochs"] == 0


def test_parameter_count():
    masks = Encoding("fc1", 10, (4, 3)).head_masks(np.array([1, 0, 1, 0]))
    assert count_parameters(masks, 2, use_bias=False) == 10 * 2 + 2 * 3 + 3 * 2 + 2
