"""Bad input: a clear EvopruneError naming the value, and nothing written half-way."""

import numpy as np
import pytest
import tomllib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evoprune_deap.config import dump_toml, from_dict, load_config
from evoprune_deap.data.features import FeatureSet
from evoprune_deap.data.splits import Split
from evoprune_deap.errors import EvopruneError, FeatureCacheError, RunDirectoryError
from evoprune_deap.run.experiment import check_features, run_experiment


def _features(**meta):
    rng = np.random.default_rng(0)
    return FeatureSet(
        rng.normal(size=(30, 6)).astype(np.float32),
        np.repeat([0, 1, 2], 10),
        ("a", "b", "c"),
        (Split(np.r_[0:6, 10:16, 20:26], np.r_[6:8, 16:18, 26:28], np.r_[8:10, 18:20, 28:30]),),
        meta,
    )


def test_cache_from_another_package_version():
    with pytest.raises(FeatureCacheError, match="made by evoprune-deap 0.0.1.*--force"):
        check_features(load_config(), _features(package_version="0.0.1"))


def test_cache_from_another_backbone_than_the_config_claims():
    config = load_config(overrides={"data": {"features": "x.npz", "backbone": "resnet50"}})
    with pytest.raises(FeatureCacheError, match="holds 'efficientnet_lite0' features.*resnet50"):
        check_features(config, _features(backbone="efficientnet_lite0"))


def test_test_class_unseen_in_training():
    rng = np.random.default_rng(0)
    with pytest.raises(FeatureCacheError, match="class 'c' unseen in training"):
        FeatureSet(
            rng.normal(size=(30, 6)).astype(np.float32),
            np.repeat([0, 1, 2], 10),
            ("a", "b", "c"),
            (Split(np.r_[0:8, 10:18], np.r_[8:10, 18:20], np.r_[20:30]),),
        )


@pytest.mark.parametrize("epochs", [0, -3])
def test_zero_or_negative_epochs(epochs):
    with pytest.raises(EvopruneError, match=f"max_epochs={epochs}"):
        from_dict({"head": {"max_epochs": epochs}})


def test_unwritable_output_directory_writes_nothing(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = load_config(overrides={"ga": {"population": 4, "evaluations": 4}, "run": {"workers": 1}})
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(RunDirectoryError, match="Cannot write to run directory.*writable --out"):
        run_experiment(config, _features(), run_dir=str(blocker / "run"))
    assert sorted(p.name for p in tmp_path.rglob("*")) == before and blocker.read_text() == "not a directory"


def test_rejected_features_leave_no_run_directory(tmp_path):
    config = load_config(overrides={"run": {"workers": 1}})
    with pytest.raises(FeatureCacheError):
        run_experiment(config, _features(package_version="0.0.1"), run_dir=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_mask_length_must_match_the_head():
    from evoprune_deap.config import HeadConfig
    from evoprune_deap.errors import EncodingError
    from evoprune_deap.evaluation.fitness import MaskFitness
    from evoprune_deap.head.masks import Encoding

    fitness = MaskFitness(_features(), Encoding("fs", 6, (4,)), HeadConfig(hidden_units=(4,)), "honest", 0)
    with pytest.raises(EncodingError, match="needs 6 bits"):
        fitness(np.ones(5))


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 1000),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.lists(st.integers(-2, 600), max_size=3),
)
_keys = st.sampled_from(
    [
        "population",
        "evaluations",
        "mutation_prob",
        "encoding",
        "init_density",
        "max_epochs",
        "hidden_units",
        "seed",
        "protocol",
        "image_size",
        "val_fraction",
        "candidates",
        "batch_size",
        "bogus",
    ]
)
_tables = st.dictionaries(
    st.sampled_from(["ga", "head", "run", "data", "nope"]),
    st.dictionaries(_keys, _values, max_size=4),
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(_tables)
def test_random_configs_are_accepted_or_rejected_with_an_evoprune_error(tables):
    try:
        config = from_dict(tables)
    except EvopruneError as exc:
        assert str(exc)
    else:
        assert config.ga.population >= 4 and config.ga.budget >= config.ga.population
        assert from_dict(tomllib.loads(dump_toml(config))) == config  # what is accepted round-trips


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 12),
    d=st.integers(0, 4),
    n_labels=st.integers(0, 14),
    n_classes=st.integers(0, 4),
    poison=st.sampled_from([None, np.nan, np.inf]),
    seed=st.integers(0, 10),
)
def test_random_small_feature_arrays_are_validated_with_an_evoprune_error(
    n, d, n_labels, n_classes, poison, seed
):
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n, d)).astype(np.float32)
    if poison is not None and features.size:
        features.flat[rng.integers(features.size)] = poison
    labels = rng.integers(0, max(n_classes, 1) + 1, n_labels)
    index = rng.permutation(max(n, 1))
    split = Split(np.sort(index[: n // 2]), np.sort(index[n // 2 : 3 * n // 4]), np.sort(index[3 * n // 4 :]))
    try:
        FeatureSet(features, labels, tuple("abcd"[:n_classes]), (split,))
    except EvopruneError as exc:
        assert str(exc)
