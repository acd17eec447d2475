"""The one trainer: a pure JAX function over P heads that computes what Keras' ``fit`` computes."""

import dataclasses

import keras
import numpy as np
import pytest

from evoprune_deap.config import HeadConfig, from_dict
from evoprune_deap.errors import ConfigError
from evoprune_deap.evaluation.fitness import MaskFitness
from evoprune_deap.head import trainer as trainer_module
from evoprune_deap.head.batching import MAX_HEADS, head_bytes, heads_per_program, split_batches
from evoprune_deap.head.fine_tune import MaskSchedule, fine_tune, seeded_once_orders
from evoprune_deap.head.forward import padded_dims
from evoprune_deap.head.masks import Encoding
from evoprune_deap.head.models.stack import fit_head, masked_reference_head
from evoprune_deap.head.trainer import HeadTrainer, TrainState, batch_indices, epoch_orders
from evoprune_deap.head.weights import HeadWeights
from evoprune_deap.run.experiment import run_experiment
from evoprune_deap.seeding import derive_seed

HIDDEN = {"fc1": (24, 12), "fc2": (24, 12), "both": (24, 12), "fs": (24,)}


def _masks(encoding, densities, seed=0):
    rng = np.random.default_rng(seed)
    return [encoding.head_masks(rng.random(encoding.n_bits) < p) for p in densities]


def test_epoch_orders_are_the_shuffles_keras_draws_after_the_reseed():
    orders = epoch_orders(seed=7, n_samples=50, n_epochs=3)
    for epoch in range(3):
        keras.utils.set_random_seed(derive_seed(7, "epoch", epoch))
        np.testing.assert_array_equal(orders[epoch], np.random.permutation(50))
    assert len({tuple(row) for row in orders}) == 3


def test_seeded_once_orders_are_the_shuffles_keras_fit_draws_after_one_seed():
    orders = seeded_once_orders(seed=7, n_samples=50, n_epochs=3)
    keras.utils.set_random_seed(7)
    for epoch in range(3):
        np.testing.assert_array_equal(orders[epoch], np.random.permutation(50))


def test_batches_pad_only_the_last_one():
    indices, weights = batch_indices(np.arange(10, dtype=np.int32)[None], batch_size=4)
    assert indices.shape == (1, 3, 4) and weights.shape == (3, 4)
    np.testing.assert_array_equal(indices[0, :2].ravel(), np.arange(8))
    np.testing.assert_array_equal(weights.sum(axis=1), [4, 4, 2])


def test_the_state_is_read_by_name():
    assert TrainState._fields == (
        "epoch",
        "weights",
        "velocity",
        "best_loss",
        "best_weights",
        "wait",
        "stopped",
        "losses",
    )


@pytest.mark.parametrize("name", ["fc1", "fs"])
@pytest.mark.parametrize(
    "max_epochs, patience, min_delta, stops",
    [
        (6, 10, 1e-5, False),  # runs every epoch
        (40, 2, 0.02, True),  # early stopping fires and restores the best epoch
    ],
)
def test_the_trainer_equals_keras_fit_of_the_masked_full_width_head(
    faces_features, name, max_epochs, patience, min_delta, stops, monkeypatch
):
    monkeypatch.setattr(trainer_module, "SEGMENT_EPOCHS", 4)  # several calls of the program per training
    config = HeadConfig(hidden_units=(32, 16), max_epochs=max_epochs, patience=patience, min_delta=min_delta)
    x, y = faces_features.arrays()["train"]
    encoding = Encoding(name, faces_features.n_features, config.hidden_units)
    masks = encoding.head_masks(np.random.default_rng(3).random(encoding.n_bits) < 0.6)
    head = HeadTrainer(faces_features.n_features, faces_features.n_classes, config).train(masks, x, y, 5)
    full = HeadWeights.glorot((faces_features.n_features, *config.hidden_units, 2), 5, config.use_bias)
    reference = masked_reference_head(masks, 2, config, full)
    losses = fit_head(reference, x, y, config, seed=5)
    assert head.epochs == len(losses)
    assert (head.epochs < max_epochs) == stops
    np.testing.assert_allclose(head.losses, losses, rtol=1e-5)
    want = HeadWeights.from_model(reference, 2).select(masks)
    for a, b in zip(head.weights.to_list(), want.to_list()):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("name", ["fc1", "fc2", "both", "fs"])
def test_p_heads_vmapped_equal_one_head_per_program_with_early_stops_at_different_epochs(
    faces_features, name
):
    # 60 epochs cross the 50-epoch segment boundary; patience 2 with a coarse min_delta makes some heads
    # stop early (at different epochs) while others run on. Two masks share a padded shape.
    config = HeadConfig(hidden_units=HIDDEN[name], max_epochs=60, patience=2, min_delta=2e-3)
    encoding = Encoding(name, faces_features.n_features, config.hidden_units)
    masks = _masks(encoding, (0.2, 0.5, 0.7, 0.9, 0.35))
    seeds = [101, 102, 103, 104, 105]
    x, y = faces_features.arrays()["train"]
    xv, yv = faces_features.arrays()["val"]
    n, c = faces_features.n_features, faces_features.n_classes
    alone = HeadTrainer(n, c, dataclasses.replace(config, engine="single"))
    together = HeadTrainer(n, c, dataclasses.replace(config, engine="batched"))
    want = alone.train_many(masks, x, y, seeds)
    got = together.train_many(masks, x, y, seeds)
    epochs = [head.epochs for head in want]
    assert [head.epochs for head in got] == epochs
    assert len(set(epochs)) > 1 and min(epochs) < config.max_epochs  # early stops fired, at different epochs
    for a, b in zip(want, got):
        assert a.weights.dims == b.weights.dims == (*a.masks.n_active, c)
        for ka, kb in zip(a.weights.kernels, b.weights.kernels):
            np.testing.assert_allclose(kb, ka, atol=1e-6, rtol=0)
        np.testing.assert_allclose(b.losses, a.losses, atol=1e-6, rtol=1e-6)
        assert b.accuracy(xv, yv) == a.accuracy(xv, yv) and b.accuracy(x, y) == a.accuracy(x, y)


def test_a_heads_training_does_not_depend_on_its_batch(faces_features, monkeypatch):
    config = HeadConfig(hidden_units=(24, 12), max_epochs=12, engine="batched")
    encoding = Encoding("fc1", faces_features.n_features, config.hidden_units)
    masks = _masks(encoding, (0.3, 0.4, 0.5, 0.35, 0.45, 0.55), seed=4)
    shapes = {padded_dims(m, 2, trainer_module.COARSE) for m in masks}
    assert len(shapes) == 1  # one group: the memory split below is what divides it
    seeds = list(range(6))
    x, y = faces_features.arrays()["train"]
    trainer = HeadTrainer(faces_features.n_features, faces_features.n_classes, config)
    together = trainer.train_many(masks, x, y, seeds)
    alone = [trainer.train(m, x, y, s) for m, s in zip(masks, seeds)]
    budget = 2 * head_bytes(shapes.pop(), len(y), config.batch_size)  # 2 heads per batch: 3 batches
    calls = []
    original = trainer._train_batch
    monkeypatch.setattr(trainer_module, "memory_budget", lambda: budget)
    monkeypatch.setattr(
        trainer, "_train_batch", lambda dims, m, *a: calls.append(len(m)) or original(dims, m, *a)
    )
    split = trainer.train_many(masks, x, y, seeds)
    assert calls == [2, 2, 2]
    for a, b, c in zip(together, alone, split):
        assert a.epochs == b.epochs == c.epochs
        for ka, kb, kc in zip(a.weights.kernels, b.weights.kernels, c.weights.kernels):
            assert np.array_equal(ka, kb) and np.array_equal(ka, kc)  # bit for bit


def test_batches_are_split_within_the_memory_budget():
    parts = split_batches(10, per_head=100, budget=350)  # 3 heads fit: 4 batches of 2-3, in order
    assert len(parts) == 4
    assert sorted(len(r) for r in parts) == [2, 2, 3, 3] and [i for r in parts for i in r] == list(range(10))
    assert [len(r) for r in split_batches(5, per_head=100, budget=10**9)] == [5]
    assert [len(r) for r in split_batches(3, per_head=10**12, budget=10)] == [1, 1, 1]  # never zero heads
    assert sum(len(r) for r in split_batches(600, per_head=1, budget=10**9, max_heads=256)) == 600
    assert max(len(r) for r in split_batches(600, per_head=1, budget=10**9, max_heads=256)) <= 256
    assert head_bytes((1280, 512, 512, 4), 2000, 32) > head_bytes((1280, 64, 64, 4), 2000, 32)


def test_one_head_per_program_on_this_cpu_many_on_a_gpu(monkeypatch):
    import jax

    assert heads_per_program("auto") == 1 and heads_per_program("single") == 1
    assert heads_per_program("batched") == MAX_HEADS
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert heads_per_program("auto") == MAX_HEADS
    with pytest.raises(ConfigError, match="engine"):
        heads_per_program("compiled")
    with pytest.raises(ConfigError, match="engine"):
        HeadConfig(engine="keras-fit")


@pytest.mark.slow
def test_the_trainer_is_jax_whatever_keras_runs_on(tmp_path):
    """With Keras on TensorFlow the trainer still trains in JAX, to the same numbers."""
    import os
    import subprocess
    import sys

    code = """
import numpy as np, evoprune_deap, keras
from evoprune_deap.config import HeadConfig
from evoprune_deap.head.masks import HeadMasks
from evoprune_deap.head.trainer import HeadTrainer
rng = np.random.default_rng(0)
y = np.repeat([0, 1], 40)
x = (rng.normal(size=(80, 8)) + 2 * y[:, None]).astype(np.float32)
head = HeadTrainer(8, 2, HeadConfig(hidden_units=(8,), max_epochs=40, learning_rate=0.05)).train(
    HeadMasks.full(8, (8,)), x, y, seed=3)
print(keras.backend.backend(), head.epochs, repr(float(head.losses[-1])), head.accuracy(x, y))
"""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    on_tensorflow = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(code, {})  # the same code in this process, Keras on JAX
    here = printed.getvalue().split()
    assert on_tensorflow[0] == "tensorflow" and here[0] == "jax"
    assert on_tensorflow[1:] == here[1:]
    assert here[1] == "40" and float(here[3]) > 0.8


@pytest.mark.parametrize("engine, calls", [("batched", [5]), ("single", [1, 1, 1, 1, 1])])
def test_the_fitness_scores_a_batch_as_the_trainer_groups_it_and_journals_each(faces_features, engine, calls):
    config = HeadConfig(hidden_units=(24, 12), max_epochs=6, engine=engine)
    encoding = Encoding("fc1", faces_features.n_features, config.hidden_units)
    bits = [np.random.default_rng(i).random(encoding.n_bits) < 0.5 for i in range(4)]
    bits.append(np.zeros(encoding.n_bits, dtype=bool))  # an empty mask: fitness 0, no head
    fitness = MaskFitness(faces_features, encoding, config, "honest", seed=9)
    seen = []
    original = fitness.score_many
    fitness.score_many = lambda masks, with_test: seen.append(len(masks)) or original(masks, with_test)
    journal = []
    results = list(fitness.evaluate_many(bits, on_result=lambda m, r: journal.append(r)))
    assert seen == calls
    assert len(journal) == 5 and results[-1][0] == 0.0 and results[-1][2] == ()
    assert all(len(result[2]) == 1 for result in results[:4])  # one fold: the trained weights of each head
    single = MaskFitness(faces_features, encoding, dataclasses.replace(config, engine="single"), "honest", 9)
    for mask, (value, info, _) in zip(bits, results):
        want, want_info = single(mask)
        assert value == want and info["epochs"] == want_info["epochs"]


def test_scoring_the_search_weights_equals_training_again(faces_features):
    config = HeadConfig(hidden_units=(24, 12), max_epochs=6)
    encoding = Encoding("fs", faces_features.n_features, config.hidden_units[:1])
    mask = np.random.default_rng(2).random(encoding.n_bits) < 0.4
    fitness = MaskFitness(
        faces_features, encoding, dataclasses.replace(config, hidden_units=(24,)), "honest", 1
    )
    trained = fitness.score(mask, with_test=True)
    rescored = fitness.score_many([mask], with_test=True, fold_weights=[trained.fold_weights])[0]
    assert rescored.epochs == 0 and trained.epochs > 0
    assert (rescored.val_accuracy, rescored.test_accuracy) == (trained.val_accuracy, trained.test_accuracy)


@pytest.mark.slow
def test_a_ga_run_with_batched_training_equals_the_single_run(faces_features, tmp_path):
    runs = {}
    for engine in ("single", "batched"):
        config = from_dict(
            {
                "ga": {"population": 6, "evaluations": 14, "in_flight": 2},
                "head": {"max_epochs": 8, "engine": engine, "hidden_units": [24, 12]},
                "run": {"seed": 3, "workers": 1},
            }
        )
        runs[engine] = run_experiment(config, faces_features, run_dir=str(tmp_path / engine))
    a, b = runs["single"].evaluations, runs["batched"].evaluations
    for column in ("mask_hash", "fitness", "val_accuracy", "epochs", "n_active"):
        assert a[column].tolist() == b[column].tolist(), column
    assert runs["single"].summary.test_accuracy == runs["batched"].summary.test_accuracy


def test_on_a_gpu_the_default_is_one_process_not_a_worker_per_core(monkeypatch):
    import jax

    from evoprune_deap.evaluation.cluster import default_workers
    from evoprune_deap.evaluation.setup import resolve_workers

    assert resolve_workers(0) == default_workers() and resolve_workers(3) == 3
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert resolve_workers(0) == 1 and resolve_workers(3) == 3


def _kernel_masks(weights: HeadWeights, density: float, seed: int) -> tuple:
    """Random 0/1 masks on the hidden kernels, None for the output layer."""
    rng = np.random.default_rng(seed)
    hidden = [(rng.random(k.shape) < density).astype(np.float32) for k in weights.kernels[:-1]]
    return (*hidden, None)


class _KeepMasked(keras.constraints.Constraint):
    """A Keras kernel constraint applied after every update: the kernel times a fixed 0/1 mask."""

    def __init__(self, mask):
        self.mask = mask

    def __call__(self, w):
        return w * self.mask


def _constrained_keras_head(weights: HeadWeights, masks: tuple, config: HeadConfig):
    """The reference: the full head, its kernels times ``masks`` after every update (a Keras constraint)."""
    from evoprune_deap.head.models.stack import compile_head

    layers = [keras.Input((weights.dims[0],))]
    for i, (width, mask) in enumerate(zip(weights.dims[1:-1], masks)):
        layers.append(
            keras.layers.Dense(
                width,
                "relu",
                use_bias=config.use_bias,
                kernel_constraint=_KeepMasked(mask),
                name=f"fc{i + 1}",
            )
        )
    layers.append(keras.layers.Dense(weights.dims[-1], "softmax", name="output"))
    model = keras.Sequential(layers)
    trainer_module.apply_kernel_masks(weights, masks).assign_to(model)
    return compile_head(model, config)


@pytest.mark.parametrize("early_stopping", [True, False])
def test_fine_tuning_under_weight_masks_equals_keras_fit_with_the_masks_as_a_constraint(
    faces_features, early_stopping
):
    config = HeadConfig(hidden_units=(32, 16), max_epochs=30, patience=2, min_delta=0.02, use_bias=True)
    x, y = faces_features.arrays()["train"]
    start = HeadWeights.glorot((faces_features.n_features, 32, 16, 2), 4, config.use_bias)
    masks = _kernel_masks(start, 0.4, seed=1)
    model = _constrained_keras_head(start, masks, config)
    if early_stopping:  # the trainer's shuffles (one seed per epoch), early stopping with the best weights
        head = fine_tune(config, start, x, y, 6, MaskSchedule.fixed(masks))
        losses = fit_head(model, x, y, config, seed=6)
        assert head.epochs == len(losses) < config.max_epochs  # early stopping fired
    else:  # the polynomial-decay baseline's way: seeded once, every epoch, the last weights
        # A model's first fit draws one shuffle more (Keras builds it on a batch): skip it. The baselines'
        # decay was the third fit of its Keras head, so it drew none (benchmarks/baselines_before_after.py).
        orders = seeded_once_orders(6, len(y), 9)[1:]
        head = fine_tune(config, start, x, y, 6, MaskSchedule.fixed(masks), 8, False, orders)
        keras.utils.set_random_seed(6)
        history = model.fit(x, y, batch_size=config.batch_size, epochs=8, shuffle=True, verbose=0)
        losses = history.history["loss"]
        assert head.epochs == 8
    np.testing.assert_allclose(head.losses, losses, rtol=1e-5)
    for a, b in zip(head.weights.to_list(), HeadWeights.from_model(model, 2).to_list()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for kernel, mask in zip(head.weights.kernels, masks[:-1]):
        assert np.all(kernel[mask == 0] == 0) and np.all(kernel[mask == 1] != 0)  # pruned: exactly zero
    assert head.weights.dims == start.dims and head.masks.n_active == (faces_features.n_features, 32, 16)


def test_fine_tuning_follows_the_mask_schedule(faces_features):
    config = HeadConfig(hidden_units=(32,), max_epochs=6)
    x, y = faces_features.arrays()["train"]
    start = HeadWeights.glorot((faces_features.n_features, 32, 2), 4, config.use_bias)
    first = _kernel_masks(start, 0.6, seed=2)
    later = (first[0] * _kernel_masks(start, 0.5, seed=3)[0], None)  # prunes more at epoch 3
    seen = []

    def masks(epoch, weights):
        seen.append((epoch, weights.kernels[0].copy()))
        return {0: first, 3: later}[epoch]

    head = fine_tune(config, start, x, y, 2, MaskSchedule((0, 3), masks), early_stopping=False)
    assert [epoch for epoch, _ in seen] == [0, 3] and head.epochs == 6
    np.testing.assert_array_equal(seen[0][1], start.kernels[0])  # the schedule sees the weights reached
    assert np.all(seen[1][1][first[0] == 0] == 0) and np.all(seen[1][1][first[0] == 1] != 0)
    kernel = head.weights.kernels[0]
    assert np.all(kernel[later[0] == 0] == 0) and np.all(kernel[later[0] == 1] != 0)
    table = fine_tune(config, start, x, y, 2, MaskSchedule.table({0: first, 3: later}), early_stopping=False)
    assert np.array_equal(table.weights.kernels[0], kernel)  # a table is the same schedule
    with pytest.raises(ValueError, match="epoch 0"):
        MaskSchedule.table({3: later})
