import numpy as np
import pytest

from evoprune_deap.config import HeadConfig
from evoprune_deap.evaluation.fitness import MaskFitness
from evoprune_deap.head.costs import count_parameters
from evoprune_deap.head.forward import COARSE, padded_dims, padded_width
from evoprune_deap.head.masks import Encoding
from evoprune_deap.head.models.stack import fit_head, masked_reference_head
from evoprune_deap.head.trainer import HeadTrainer
from evoprune_deap.head.weights import HeadWeights, load_weights, save_weights
from evoprune_deap.search.objectives import EMPTY_MASK

CONFIG = HeadConfig(hidden_units=(32, 16), max_epochs=3, patience=10)


@pytest.mark.parametrize("name", ["fc1", "fc2", "both", "fs"])
def test_physically_pruned_head_equals_masked_full_width_head(faces_features, name):
    x, y = faces_features.arrays()["train"]
    encoding = Encoding(name, faces_features.n_features, CONFIG.hidden_units)
    masks = encoding.head_masks(np.random.default_rng(1).random(encoding.n_bits) < 0.5)
    head = HeadTrainer(x.shape[1], 2, CONFIG).train(masks, x, y, seed=11)
    pruned = head.to_keras()
    full = HeadWeights.glorot((x.shape[1], *CONFIG.hidden_units, 2), 11, CONFIG.use_bias)
    reference = masked_reference_head(masks, 2, CONFIG, full)
    fit_head(reference, x, y, CONFIG, seed=11)
    xv = faces_features.arrays()["val"][0]
    want = np.asarray(reference.predict(xv, verbose=0))
    assert head.epochs == 3
    np.testing.assert_allclose(np.asarray(pruned.predict(xv, verbose=0)), want, atol=1e-5)
    np.testing.assert_allclose(head.predict_proba(xv), want, atol=1e-5)
    dense = [layer for layer in pruned.layers[-1].layers if "fc" in layer.name]
    assert [layer.kernel.shape[1] for layer in dense] == list(masks.n_active[1:])
    assert head.weights.dims == (*masks.n_active, 2)


def test_a_head_does_not_depend_on_the_heads_trained_before_it(faces_features):
    """Masks of one padded shape share a compiled program; each result is its own, bit for bit."""
    x, y = faces_features.arrays()["train"]
    encoding = Encoding("both", x.shape[1], CONFIG.hidden_units)
    first, second = (encoding.head_masks(np.random.default_rng(s).random(48) < 0.6) for s in (5, 6))
    assert padded_dims(first, 2) == padded_dims(second, 2)
    trainer = HeadTrainer(x.shape[1], 2, CONFIG)
    head = trainer.train(first, x, y, seed=2)
    before = head.predict_proba(x)
    other = trainer.train(second, x, y, seed=4)
    assert not np.array_equal(other.predict_proba(x), before)
    np.testing.assert_array_equal(head.predict_proba(x), before)
    again = HeadTrainer(x.shape[1], 2, CONFIG).train(first, x, y, seed=2)  # a fresh trainer, the same head
    for a, b in zip(again.weights.to_list(), head.weights.to_list()):
        np.testing.assert_array_equal(a, b)


def test_weights_round_trip_through_npz_without_pickle(tmp_path):
    heads = (
        HeadWeights.glorot((6, 4, 2), seed=1, use_bias=False),
        HeadWeights.glorot((6, 4, 2), seed=2, use_bias=True),
    )
    path = tmp_path / "heads.npz"
    with open(path, "wb") as stream:
        save_weights(stream, heads)
    loaded = load_weights(str(path))
    assert len(loaded) == 2 and loaded[0].biases[0] is None and loaded[1].biases[0] is not None
    for want, got in zip(heads, loaded):
        for a, b in zip(want.to_list(), got.to_list()):
            np.testing.assert_array_equal(a, b)


def test_weights_select_and_resize():
    weights = HeadWeights.glorot((6, 4, 3, 2), seed=0, use_bias=False)
    assert [b is None for b in weights.biases] == [True, True, False]  # no bias in the pruned layers
    biased = HeadWeights.glorot((6, 4, 3, 2), seed=0, use_bias=True)
    assert all(b is not None for b in biased.biases)
    np.testing.assert_array_equal(biased.kernels[0], weights.kernels[0])  # same draw either way
    masks = Encoding("both", 6, (4, 3)).head_masks([1, 0, 1, 1, 0, 1, 1])
    selected = weights.select(masks)
    assert selected.dims == (6, 3, 2, 2)
    np.testing.assert_array_equal(selected.kernels[1], weights.kernels[1][[0, 2, 3]][:, [1, 2]])
    padded = selected.resize((16, 16, 16, 2))
    assert padded.kernels[0].shape == (16, 16) and not padded.kernels[0][6:].any()
    np.testing.assert_array_equal(padded.resize(selected.dims).kernels[2], selected.kernels[2])


def test_padded_width_bounds_the_shapes():
    assert [padded_width(n, 512) for n in (0, 1, 16, 17, 250, 257, 500, 512)] == [
        16,
        16,
        16,
        32,
        256,
        272,
        512,
        512,
    ]
    assert [padded_width(n, 2048) for n in (600, 1025, 1100)] == [608, 1088, 1152]
    assert padded_width(5, 10) == 10 and padded_width(1100, 1280) == 1152
    widths = {padded_width(n, 512) for n in range(1, 513)}
    assert len(widths) == 32 and all(0 <= padded_width(n, 512) - n < 16 for n in range(1, 513))
    # the coarse resolution of batched training: powers of two
    assert [padded_width(n, 512, COARSE) for n in (1, 16, 17, 100, 256, 300, 512)] == [
        16,
        16,
        32,
        128,
        256,
        512,
        512,
    ]
    assert padded_width(1100, 1280, COARSE) == 1280


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
    assert score.weights.dims == (faces_features.n_features, 32, 16, 2)


def test_a_scores_figures_are_its_deployed_heads_accuracy_on_each_split(faces_features):
    """Validation, test and hold-out accuracy are the saved Keras head's, each on its own split."""
    from evoprune_deap.head.models.stack import deployable_head

    features = faces_features.with_holdout(0.2, seed=1)
    encoding = Encoding("fc1", features.n_features, CONFIG.hidden_units)
    mask = np.random.default_rng(2).random(encoding.n_bits) < 0.6
    score = MaskFitness(features, encoding, CONFIG, "honest", seed=0).score(mask, with_test=True)
    head = deployable_head(score.weights, encoding.head_masks(mask), CONFIG)
    arrays = features.arrays()
    for part, figure in (
        ("val", score.val_accuracy),
        ("test", score.test_accuracy),
        ("holdout", score.holdout_accuracy),
    ):
        x, y = arrays[part]
        assert y.size and figure == pytest.approx(np.mean(np.argmax(head.predict(x, verbose=0), 1) == y)), (
            part
        )


@pytest.mark.parametrize("name", ["fc1", "fs"])
def test_mask_with_no_active_unit_gets_the_documented_fitness(faces_features, name):
    encoding = Encoding(name, faces_features.n_features, CONFIG.hidden_units)
    fitness, info = MaskFitness(faces_features, encoding, CONFIG, "honest", seed=0)(np.zeros(encoding.n_bits))
    assert fitness == EMPTY_MASK["accuracy"] == 0.0 and info["epochs"] == 0


def test_parameter_count():
    masks = Encoding("fc1", 10, (4, 3)).head_masks(np.array([1, 0, 1, 0]))
    assert count_parameters(masks, 2, use_bias=False) == 10 * 2 + 2 * 3 + 3 * 2 + 2


def test_paper_protocol_selects_on_test_and_honest_on_validation_with_data_where_they_disagree():
    """Validation labels are the truth, test labels are flipped: honest fitness is high, paper's low."""
    from evoprune_deap.data.features import FeatureSet
    from evoprune_deap.data.splits import Split

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 60)
    features = (rng.normal(size=(120, 8)) + 3.0 * labels[:, None]).astype(np.float32)
    order = rng.permutation(120)
    train, val, test = np.sort(order[:60]), np.sort(order[60:90]), np.sort(order[90:])
    shown = labels.copy()
    shown[test] = 1 - shown[test]
    data = FeatureSet(features, shown, ("a", "b"), (Split(train, val, test),))
    config = HeadConfig(hidden_units=(8, 8), max_epochs=30, learning_rate=0.05)
    encoding = Encoding("fc1", 8, config.hidden_units)
    mask = np.ones(8, dtype=bool)
    honest, _ = MaskFitness(data, encoding, config, "honest", seed=0)(mask)
    paper, info = MaskFitness(data, encoding, config, "paper", seed=0)(mask)
    assert honest > 0.9 and paper < 0.1
    assert info["val_accuracy"] == honest  # the paper protocol still reports validation accuracy


@pytest.mark.parametrize("n_members", [1, 3])
def test_the_ensemble_scores_the_vote_its_saved_model_computes_by_the_forward_pass(
    faces_features, n_members, monkeypatch
):
    import keras

    from evoprune_deap.shipping.members import ensemble_model, vote

    x = faces_features.arrays()["val"][0]
    encoding = Encoding("fs", x.shape[1], (16,))
    config = HeadConfig(hidden_units=(16,))
    masks = [encoding.head_masks(np.random.default_rng(k).random(x.shape[1]) < 0.5) for k in range(n_members)]
    heads = [(HeadWeights.glorot((*m.n_active, 2), k, False), m) for k, m in enumerate(masks)]
    saved = ensemble_model(heads, config, x.shape[1])  # the model build_ensemble saves
    want = np.asarray(saved.predict(x, verbose=0))
    monkeypatch.setattr(keras.Model, "predict", None)  # scoring never asks Keras
    got = vote(heads, x)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.array_equal(got.argmax(1), want.argmax(1))
