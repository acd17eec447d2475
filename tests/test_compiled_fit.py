"""The compiled training program computes what Keras' ``fit`` computes."""

import dataclasses

import keras
import numpy as np
import pytest

from evoprune_deap.config import HeadConfig
from evoprune_deap.errors import ConfigError
from evoprune_deap.head import compiled
from evoprune_deap.head.compiled import batched, epoch_orders
from evoprune_deap.head.training import HeadTrainer
from evoprune_deap.search.encodings import Encoding
from evoprune_deap.seeding import derive_seed


def test_epoch_orders_are_the_shuffles_keras_draws_after_the_reseed():
    orders = epoch_orders(seed=7, n_samples=50, n_epochs=3)
    for epoch in range(3):
        keras.utils.set_random_seed(derive_seed(7, "epoch", epoch))
        np.testing.assert_array_equal(orders[epoch], np.random.permutation(50))
    assert len({tuple(row) for row in orders}) == 3


def test_batches_pad_only_the_last_one():
    indices, weights = batched(np.arange(10, dtype=np.int32)[None], batch_size=4)
    assert indices.shape == (1, 3, 4) and weights.shape == (3, 4)
    np.testing.assert_array_equal(indices[0, :2].ravel(), np.arange(8))
    np.testing.assert_array_equal(weights.sum(axis=1), [4, 4, 2])


def _trained(engine, features, name, config, seed=5):
    x, y = features.arrays()["train"]
    config = dataclasses.replace(config, engine=engine)
    encoding = Encoding(name, features.n_features, config.hidden_units)
    masks = encoding.head_masks(np.random.default_rng(3).random(encoding.n_bits) < 0.6)
    trainer = HeadTrainer(features.n_features, features.n_classes, config)
    head = trainer.train(masks, x, y, seed)
    epochs = head.epochs
    if engine == "compiled":
        history = list(head.losses)
        assert len(history) == epochs and np.all(np.isfinite(history))
        if epochs < config.max_epochs:  # stopped: no epoch of the last `patience` beat the best before by min_delta
            best_before = min(history[: -config.patience])
            assert min(history[-config.patience:]) >= best_before - config.min_delta
    return head.weights.to_list(), epochs


@pytest.mark.parametrize("name", ["fc1", "fs"])
@pytest.mark.parametrize("max_epochs, patience, min_delta, stops", [
    (6, 10, 1e-5, False),   # runs every epoch
    (40, 2, 0.02, True),    # early stopping fires and restores the best epoch
])
def test_compiled_engine_equals_keras_fit(faces_features, name, max_epochs, patience, min_delta, stops,
                                          monkeypatch):
    monkeypatch.setattr(compiled, "SEGMENT_EPOCHS", 4)  # several calls of the program per training
    config = HeadConfig(hidden_units=(32, 16), max_epochs=max_epochs, patience=patience, min_delta=min_delta)
    want, want_epochs = _trained("keras-fit", faces_features, name, config)
    got, got_epochs = _trained("compiled", faces_features, name, config)
    assert got_epochs == want_epochs
    assert (got_epochs < max_epochs) == stops
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_unknown_engine_is_refused():
    with pytest.raises(ConfigError, match="engine"):
        HeadConfig(engine="torch")


def test_keras_fit_engine_on_the_tensorflow_backend(tmp_path):
    """`auto` picks keras-fit on TensorFlow, and it trains (its shuffles are TensorFlow's, so its numbers
    are not JAX's: only the engine and the protocol are the same)."""
    import os
    import subprocess
    import sys

    code = """
import numpy as np, evoprune_deap, keras
from evoprune_deap.config import HeadConfig
from evoprune_deap.head.masks import HeadMasks
from evoprune_deap.head.training import HeadTrainer
rng = np.random.default_rng(0)
y = np.repeat([0, 1], 40)
x = (rng.normal(size=(80, 8)) + 2 * y[:, None]).astype(np.float32)
trainer = HeadTrainer(8, 2, HeadConfig(hidden_units=(8,), max_epochs=40, learning_rate=0.05))
head = trainer.train(HeadMasks.full(8, (8,)), x, y, seed=3)
print(keras.backend.backend(), trainer.engine, head.epochs, head.losses[-1] < head.losses[0], head.accuracy(x, y))
"""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         timeout=300).stdout.split()
    assert out[:4] == ["tensorflow", "keras-fit", "40", "True"]
    assert float(out[4]) > 0.8
