import numpy as np
import pytest

from evoprune_deap.compare.baselines import (
    POLY_END_EPOCH,
    magnitude_mask,
    neuron_mask,
    polynomial_sparsity,
    random_masks,
    run_baselines,
)
from evoprune_deap.config import HeadConfig
from evoprune_deap.head.masks import Encoding


@pytest.mark.parametrize("sparsity", [0.0, 0.25, 0.63, 0.9])
def test_magnitude_mask_hits_the_target_exactly_and_keeps_the_largest(sparsity):
    kernel = np.random.default_rng(0).normal(size=(40, 25))
    mask = magnitude_mask(kernel, sparsity)
    assert int((mask == 0).sum()) == round(sparsity * kernel.size)
    if 0 < sparsity:
        assert np.abs(kernel[mask == 1]).min() >= np.abs(kernel[mask == 0]).max()


def test_neuron_mask_keeps_units_of_highest_l2_norm():
    kernel = np.random.default_rng(1).normal(size=(30, 12))
    kernel[:, 3] *= 10
    mask = neuron_mask(kernel, 5, axis=0)
    kept = np.flatnonzero(mask.any(axis=0))
    assert kept.size == 5 and 3 in kept
    assert np.all(mask[:, kept] == 1)
    rows = neuron_mask(kernel, 7, axis=1)
    assert int(rows.any(axis=1).sum()) == 7


def test_polynomial_schedule_matches_the_paper():
    final = 0.6
    values = [polynomial_sparsity(epoch, final) for epoch in range(51)]
    assert values[0] == pytest.approx(0.1)
    assert values[4] == values[0] and values[5] > values[4]  # updated every 5 epochs
    assert values[POLY_END_EPOCH] == pytest.approx(final) and values[-1] == pytest.approx(final)
    assert values == sorted(values)
    assert values[10] == pytest.approx(final + (0.1 - final) * (1 - 10 / 25) ** 3)


@pytest.mark.parametrize("name", ["fc1", "both", "fs"])
def test_random_masks_have_the_requested_density(name):
    encoding = Encoding(name, 20, (16, 8))
    best = np.random.default_rng(2).random(encoding.n_bits) < 0.3
    for mask in random_masks(encoding, best, 4, np.random.default_rng(0)):
        assert mask.sum() == best.sum()
        if name == "both":
            assert mask[:16].sum() == best[:16].sum() and mask[16:].sum() == best[16:].sum()


@pytest.mark.parametrize("name", ["fc1", "both"])
def test_baselines_reach_the_target_sparsity_under_the_same_protocol(faces_features, name):
    config = HeadConfig(hidden_units=(32, 16), max_epochs=3)
    encoding = Encoding(name, faces_features.n_features, config.hidden_units)
    best = np.zeros(encoding.n_bits, dtype=bool)
    best[: encoding.n_bits // 4] = True
    rows = {
        row["method"]: row
        for row in run_baselines(faces_features, encoding, config, "honest", 0, best, n_random=2)
    }
    assert set(rows) == {
        "unpruned",
        "linear_probe",
        "random",
        "weight_magnitude",
        "neuron_l2",
        "polynomial_decay",
    }
    active_fc1 = encoding.head_masks(best).n_active[1]
    for method in ("weight_magnitude", "neuron_l2", "polynomial_decay"):
        sparsity = rows[method]["weight_sparsity_fc1"]
        assert sparsity == pytest.approx(1 - active_fc1 / 32, abs=1e-6), method
        assert 0 <= rows[method]["test_accuracy"] <= 1
    if name == "both":
        assert rows["polynomial_decay"]["weight_sparsity_fc2"] == pytest.approx(1.0, abs=1e-6)
    assert rows["unpruned"]["active_percent"] == 100.0


def test_every_baseline_trains_and_scores_without_keras():
    """The baselines go through the one trainer and forward pass: running them all never imports Keras."""
    import subprocess
    import sys

    code = """
import sys, numpy as np
from evoprune_deap.compare.baselines import run_baselines
from evoprune_deap.config import HeadConfig
from evoprune_deap.data.features import FeatureSet
from evoprune_deap.data.splits import Split
from evoprune_deap.head.masks import Encoding
rng = np.random.default_rng(0)
y = np.repeat([0, 1], 60)
x = (rng.normal(size=(120, 12)) + y[:, None]).astype(np.float32)
order = rng.permutation(120)
features = FeatureSet(x, y, ("a", "b"), (Split(order[:80], order[80:100], order[100:]),), {"source": "array"})
config = HeadConfig(hidden_units=(8,), max_epochs=3)
rows = run_baselines(features, Encoding("fc1", 12, (8,)), config, "honest", 0, np.arange(8) < 3, n_random=1)
print(sorted({row["method"] for row in rows}), "keras" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    methods, keras_imported = out.stdout.strip().rsplit(" ", 1)
    assert "polynomial_decay" in methods and "neuron_l2" in methods and "weight_magnitude" in methods
    assert keras_imported == "False"
