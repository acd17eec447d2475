"""The batched engine (many heads in one JAX program) trains what the compiled engine trains."""

import dataclasses

import numpy as np
import pytest

from evoprune_deap.config import HeadConfig, from_dict
from evoprune_deap.head import batched as batched_module
from evoprune_deap.head.batched import bucket_width, head_bytes, split_batches
from evoprune_deap.head.training import HeadTrainer, resolve_engine
from evoprune_deap.run.experiment import run_experiment
from evoprune_deap.run.fitness import MaskFitness
from evoprune_deap.search.encodings import Encoding

HIDDEN = {"fc1": (24, 12), "fc2": (24, 12), "both": (24, 12), "fs": (24,)}


def _masks(encoding, densities, seed=0):
    rng = np.random.default_rng(seed)
    return [encoding.head_masks(rng.random(encoding.n_bits) < p) for p in densities]


@pytest.mark.parametrize("name", ["fc1", "fc2", "both", "fs"])
def test_batched_equals_compiled_one_by_one_with_early_stops_at_different_epochs(faces_features, name):
    # 60 epochs cross the 50-epoch segment boundary; patience 2 with a coarse min_delta makes some heads
    # stop early (at different epochs) while others run on.
    config = HeadConfig(hidden_units=HIDDEN[name], max_epochs=60, patience=2, min_delta=2e-3)
    encoding = Encoding(name, faces_features.n_features, config.hidden_units)
    masks = _masks(encoding, (0.2, 0.5, 0.7, 0.9, 0.35))
    seeds = [101, 102, 103, 104, 105]
    x, y = faces_features.arrays()["train"]
    xv, yv = faces_features.arrays()["val"]
    alone = HeadTrainer(faces_features.n_features, faces_features.n_classes, dataclasses.replace(config, engine="compiled"))
    together = HeadTrainer(faces_features.n_features, faces_features.n_classes, dataclasses.replace(config, engine="batched"))
    want = [alone.train(m, x, y, s) for m, s in zip(masks, seeds)]
    got = together.train_many(masks, x, y, seeds)
    epochs = [head.epochs for head in want]
    assert [head.epochs for head in got] == epochs
    assert len(set(epochs)) > 1 and min(epochs) < config.max_epochs  # early stops fired, at different epochs
    for a, b in zip(want, got):
        assert a.weights.dims == b.weights.dims
        for ka, kb in zip(a.weights.kernels, b.weights.kernels):
            np.testing.assert_allclose(kb, ka, atol=1e-6, rtol=0)
        np.testing.assert_allclose(b.losses, a.losses, atol=1e-6, rtol=1e-6)
        assert b.accuracy(xv, yv) == a.accuracy(xv, yv) and b.accuracy(x, y) == a.accuracy(x, y)


def test_a_heads_training_does_not_depend_on_its_batch(faces_features, monkeypatch):
    config = HeadConfig(hidden_units=(24, 12), max_epochs=12, engine="batched")
    encoding = Encoding("fc1", faces_features.n_features, config.hidden_units)
    masks = _masks(encoding, (0.6, 0.7, 0.8, 0.65, 0.75, 0.9), seed=4)
    seeds = list(range(6))
    x, y = faces_features.arrays()["train"]
    trainer = HeadTrainer(faces_features.n_features, faces_features.n_classes, config)
    together = trainer.train_many(masks, x, y, seeds)
    alone = [trainer.train(m, x, y, s) for m, s in zip(masks, seeds)]
    # a memory budget of 2 heads splits the batch into 3
    budget = 2 * head_bytes((*trainer.batch_shape(masks[0]), faces_features.n_classes), len(y), config.batch_size)
    monkeypatch.setattr(batched_module, "memory_budget", lambda: budget)
    split = trainer.train_many(masks, x, y, seeds)
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
    assert [bucket_width(w, 512) for w in (1, 16, 17, 100, 256, 300, 512)] == [16, 16, 32, 128, 256, 512, 512]
    assert bucket_width(1100, 1280) == 1280


def test_auto_picks_compiled_on_this_cpu_and_batched_is_accepted():
    assert resolve_engine("auto") == "compiled"  # batched on a GPU
    assert resolve_engine("batched") == "batched"


def test_the_in_process_fitness_trains_pending_masks_as_one_batch_and_journals_each(faces_features):
    config = HeadConfig(hidden_units=(24, 12), max_epochs=6, engine="batched")
    encoding = Encoding("fc1", faces_features.n_features, config.hidden_units)
    bits = [np.random.default_rng(i).random(encoding.n_bits) < 0.5 for i in range(4)]
    bits.append(np.zeros(encoding.n_bits, dtype=bool))  # an empty mask: fitness 0, no head
    fitness = MaskFitness(faces_features, encoding, config, "honest", seed=9)
    calls = []
    original = fitness.score_many
    fitness.score_many = lambda masks, with_test: calls.append(len(masks)) or original(masks, with_test)
    journal = []
    first = fitness.evaluate_many(bits[:2], on_result=lambda m, r: journal.append(r))
    second = fitness.evaluate_many(bits[2:], on_result=lambda m, r: journal.append(r))
    results = list(first) + list(second)
    assert calls == [5]  # the first result asked for trained both submissions at once
    assert len(journal) == 5 and results[-1][0] == 0.0
    one_by_one = MaskFitness(faces_features, encoding, dataclasses.replace(config, engine="compiled"), "honest", 9)
    for mask, (value, info) in zip(bits, results):
        want, want_info = one_by_one(mask)
        assert value == want and info["epochs"] == want_info["epochs"]


def test_a_ga_run_with_the_batched_engine_equals_the_compiled_run(faces_features, tmp_path):
    runs = {}
    for engine in ("compiled", "batched"):
        config = from_dict({"ga": {"population": 6, "evaluations": 14, "in_flight": 2},
                            "head": {"max_epochs": 8, "engine": engine, "hidden_units": [24, 12]},
                            "run": {"seed": 3, "workers": 1}})
        runs[engine] = run_experiment(config, faces_features, run_dir=str(tmp_path / engine))
    a, b = runs["compiled"].evaluations, runs["batched"].evaluations
    for column in ("mask_hash", "fitness", "val_accuracy", "epochs", "n_active"):
        assert a[column].tolist() == b[column].tolist(), column
    assert runs["compiled"].summary.test_accuracy == runs["batched"].summary.test_accuracy


def test_on_a_gpu_the_default_is_one_process_not_a_worker_per_core(monkeypatch):
    import jax

    from evoprune_deap.run.cluster import default_workers
    from evoprune_deap.run.experiment import resolve_workers

    assert resolve_workers(0) == default_workers() and resolve_workers(3) == 3
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert resolve_workers(0) == 1 and resolve_workers(3) == 3
