"""Issue 14: bad inputs across the commands and the Python API get one clear line on fd 2, exit code 2,
and change no file (names, sizes and modification times)."""

import os

import numpy as np
import pytest
from conftest import write_digits_folder


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder to stand in, with a cache folder, a run parent holding one run, a text file and a folder."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVOPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    os.makedirs("runs/elpv_fc1_seed0")
    with open("runs/elpv_fc1_seed0/config.toml", "w") as stream:
        stream.write("[ga]\npopulation = 4\n")
    with open("notes.txt", "w") as stream:
        stream.write("not a cache\n")
    os.makedirs("caches")
    np.savez("caches/pickled.npz", objects=np.array([{"a": 1}], dtype=object))
    with open("fs.toml", "w") as stream:
        stream.write("[head]\nhidden_units = [512]\n")
    os.makedirs("empty")
    with open("garbage.h5", "w") as stream:
        stream.write("not HDF5")
    write_digits_folder(tmp_path / "digits", n_per_class=4, classes=(0, 1))
    return tmp_path


CASES = [
    # extract
    (["extract", "--image-size", "100000"], "image_size=100000"),
    (["extract", "--image-size", "8"], "an integer in [32, 1024]"),
    (
        ["extract", "--images", "digits", "--backbone", "resnet50", "--weights", "MISSING.h5"],
        "MISSING.h5' does not exist",
    ),  # named by its absolute path
    (["extract", "--images", "digits", "--weights", "empty"], "is a directory"),
    # raised in the extraction worker process, reaching the user as itself
    (
        [
            "extract",
            "--images",
            "digits",
            "--image-size",
            "32",
            "--backbone",
            "resnet50",
            "--weights",
            "garbage.h5",
        ],
        "garbage.h5': ",
    ),  # named by its absolute path
    (["extract", "--images", "nowhere"], "does not exist"),
    (["extract", "--dataset", "imagenet"], "Unknown dataset 'imagenet'"),
    (["extract", "--dataset", "elpv", "--images", "digits"], "either a dataset name or an image folder"),
    (["extract", "--test-images", "digits"], "--test-images needs --images"),
    (["extract", "--val-fraction", "1.5"], "val_fraction=1.5"),
    (["extract", "--split-seed", "-1"], "split_seed=-1"),
    (["extract", "--backbone", "alexnet"], "backbone='alexnet'"),
    (["extract", "--train-subset", "5"], "train_subset=5"),
    (["extract", "--images", "digits", "--name", "a/b"], "name='a/b'"),
    # run
    (["run", "--features", "caches"], "is a directory"),
    (["run", "--features", "notes.txt"], "is not a feature cache"),
    (["run", "--features", "caches/pickled.npz"], "pickled objects, which are never loaded"),
    (["run", "--features", "missing.npz"], "does not exist"),
    (["run", "--resume", "runs"], "holds 1: 'runs/elpv_fc1_seed0'"),
    (["run", "--resume", "no_such_run"], "does not exist"),
    (["run", "--population", "3"], "population=3"),
    (["run", "--population", "8", "--evaluations", "5"], "evaluations=5"),
    (["run", "--encoding", "fc3"], "encoding='fc3'"),
    (["run", "--engine", "turbo"], "engine='turbo'"),
    (["run", "--protocol", "cheat"], "protocol='cheat'"),
    (["run", "--in-flight", "0"], "in_flight=0"),
    (["run", "--config", "fs.toml", "--encoding", "both"], "needs two hidden layers"),
    (["run", "--config", "missing.toml"], "missing.toml"),
    (["run", "--holdout-fraction", "1"], "holdout_fraction=1"),
    (["run", "--max-epochs", "0"], "max_epochs=0"),
    (["run", "--hidden-units", "512,x"], "'512,x' is not comma-separated integers"),
    (["run", "--hidden-units", "512,0"], "hidden_units=[512, 0]"),
    (["run", "--hidden-units", "64", "--encoding", "fc2"], "needs two hidden layers"),
    (["run", "--workers", "-1"], "workers=-1"),
    # campaign, report, plot
    (["campaign", "missing.toml"], "missing.toml"),
    (["campaign", "fs.toml", "--population", "3"], "population=3"),
    (["report", "nowhere"], "'nowhere' does not exist"),
    (["report", "empty"], "No finished run"),
    (["plot", "nowhere"], "'nowhere' does not exist"),
]


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_gets_one_line_exit_2_and_writes_nothing(workspace, refused, argv, message):
    line = refused(argv, message, workspace)  # without -q, fd 2 (worker processes too)
    assert "allow_pickle" not in line


def test_python_api_bad_inputs_raise_the_same_errors(workspace):
    from evoprune_deap import (
        EvoPruneClassifier,
        EvopruneError,
        FeatureSet,
        extract_features,
        load_config,
        load_source,
    )

    with pytest.raises(EvopruneError, match="is a directory"):
        FeatureSet.load("caches")
    with pytest.raises(EvopruneError, match="is not a feature cache"):
        FeatureSet.load("notes.txt")
    with pytest.raises(EvopruneError, match="population=2"):
        load_config(overrides={"ga": {"population": 2}})
    with pytest.raises(EvopruneError, match="MISSING.h5"):
        extract_features(load_source(images="digits"), backbone="resnet50", weights="MISSING.h5")
    with pytest.raises(ValueError, match="at least 2 classes"):
        EvoPruneClassifier(population=4, evaluations=4).fit(np.ones((10, 3)), ["a"] * 10)
    with pytest.raises(EvopruneError, match="train_subset=1000"):
        load_source(images="digits", train_subset=1000)


def test_a_train_folder_is_named_after_its_parent(tmp_path):
    from evoprune_deap.data.images.sources import folder_name, load_source

    write_digits_folder(tmp_path / "plants" / "train", n_per_class=3, classes=(0, 1))
    assert load_source(images=str(tmp_path / "plants" / "train")).name == "plants"
    assert load_source(images=str(tmp_path / "plants" / "train"), name="leaf").name == "leaf"
    assert folder_name(str(tmp_path / "coral")) == "coral" and folder_name("data/rps.zip") == "rps"
