"""`evoprune export`: one image-to-class model, the feature mask folded into the backbone, LiteRT.

Real EfficientNet-Lite0 (its ImageNet weights, from a copy passed with --weights so a test can take
it away) on scikit-image's real LFW faces at 32 px; tiny real runs. Every exported model runs in a
fresh process that never imports evoprune_deap (the .tflite ones without Keras either).
"""

import json
import os
import shutil
from collections import Counter

import numpy as np
import pytest

from evoprune_deap.cli import main
from evoprune_deap.data.backbones.efficientnet_lite0 import HEAD_FILTERS, default_weights_path
from evoprune_deap.shipping.deploy_check import agreement, split_images, two_stage
from evoprune_deap.shipping.litert import predict

pytestmark = pytest.mark.slow  # real runs, real conversions, fresh processes

KERAS_ON_TF = {
    "KERAS_BACKEND": "tensorflow"
}  # where a deployed .keras model runs (README: JAX is 13x slower)
TINY = [
    "--image-size",
    "32",
    "--population",
    "4",
    "--evaluations",
    "6",
    "--max-epochs",
    "4",
    "--workers",
    "1",
    "--seed",
    "3",
]


@pytest.fixture(scope="module")
def weights_copy(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "lite0.pth"
    shutil.copy(default_weights_path(), path)
    return str(path)


@pytest.fixture(scope="module")
def fs_run(faces_folder, weights_copy, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("export") / "fs")
    assert (
        main(
            [
                "-q",
                "run",
                "--images",
                faces_folder,
                "--weights",
                weights_copy,
                "--encoding",
                "fs",
                *TINY,
                "--run-dir",
                run_dir,
            ]
        )
        == 0
    )
    return run_dir


@pytest.fixture(scope="module")
def fs_exports(fs_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    paths = {"keras": str(out / "fs.keras"), "litert": str(out / "fs.tflite")}
    assert main(["-q", "export", fs_run, "--out", paths["keras"]]) == 0
    assert main(["-q", "export", fs_run, "--format", "litert", "--out", paths["litert"]]) == 0
    for quantize in ("dynamic", "float16", "int8"):
        paths[quantize] = str(out / f"fs_{quantize}.tflite")
        argv = [
            "-q",
            "export",
            fs_run,
            "--format",
            "litert",
            "--quantize",
            quantize,
            "--out",
            paths[quantize],
        ]
        assert main(argv) == 0
    return paths


def test_fs_export_computes_only_the_selected_features_and_classifies_as_the_two_stage_pipeline(
    fs_run, fs_exports
):
    import json

    record = json.load(open(fs_exports["keras"] + ".json"))
    kept = record["active_features"]
    assert record["feature_selection"] == "folded" and 0 < kept < HEAD_FILTERS
    # the head conv (1x1, 320 -> 1280) and its batch norm lose every unselected channel
    assert record["costs"]["backbone_parameters_removed"] == (HEAD_FILTERS - kept) * (320 + 4)
    assert (
        record["costs"]["backbone_multiply_adds_removed"] == (HEAD_FILTERS - kept) * 320
    )  # 1x1 positions at 32 px
    assert record["class_names"] == ["face", "nonface"] and record["image_size"] == 32 and record["seed"] == 3
    images, features, labels = split_images(fs_run)
    reference = two_stage(os.path.join(fs_run, "best_head.keras"), features)
    exported = predict(fs_exports["keras"], images, env=KERAS_ON_TF)
    assert "evoprune_deap" not in exported["modules"] and exported["runtime"] == "keras (tensorflow)"
    found = agreement(reference, exported["probabilities"], labels)
    assert found["agree"] == 1.0 and found["max_abs_difference"] < 1e-4, found


def test_channels_removed_give_the_probabilities_of_the_whole_backbone_with_sliced_features(
    fs_run, fs_exports, tmp_path
):
    from evoprune_deap.shipping.export import export_model

    whole = export_model(fs_run, out=str(tmp_path / "whole.keras"), fold=False)
    assert whole["feature_selection"] == "sliced" and whole["costs"]["backbone_parameters_removed"] == 0
    import keras

    images, _, _ = split_images(fs_run)  # both in this process: the fresh-process loads are tested above
    a = keras.saving.load_model(fs_exports["keras"]).predict(images, verbose=0)
    b = keras.saving.load_model(str(tmp_path / "whole.keras")).predict(images, verbose=0)
    assert np.abs(a - b).max() < 1e-5


def test_litert_models_run_without_keras_or_evoprune_and_agree(fs_run, fs_exports):
    images, features, labels = split_images(fs_run)
    reference = two_stage(os.path.join(fs_run, "best_head.keras"), features)
    lite = predict(fs_exports["litert"], images)
    assert not {"keras", "evoprune_deap"} & set(lite["modules"]), lite["modules"]
    found = agreement(reference, lite["probabilities"], labels)
    assert found["agree"] == 1.0 and found["max_abs_difference"] < 1e-3, found
    dynamic = predict(fs_exports["dynamic"], images)
    assert agreement(lite["probabilities"], dynamic["probabilities"])["agree"] >= 0.9
    assert os.path.getsize(fs_exports["dynamic"]) < 0.5 * os.path.getsize(fs_exports["litert"])
    # LiteRT takes the backbone's 32 px unless told the images' size
    raw, _, _ = split_images(fs_run, 25)
    with pytest.raises(Exception, match="fresh process failed"):
        predict(fs_exports["litert"], raw)


def _tensor_types(path: str) -> Counter:
    """How many of a LiteRT model's tensors (weights and activations) have each dtype."""
    from ai_edge_litert.interpreter import Interpreter

    return Counter(np.dtype(t["dtype"]).name for t in Interpreter(model_path=path).get_tensor_details())


def test_float16_export_halves_the_file_and_classifies_as_float32(fs_run, fs_exports):
    """`--quantize float16` (what the README recommends): float16 weights (half the file), dequantised to
    float32 at load; in a fresh process without Keras it gives float32's classes."""
    record = json.load(open(fs_exports["float16"] + ".json"))
    assert record["quantize"] == "float16" and record["file_bytes"] == os.path.getsize(fs_exports["float16"])
    assert 0.45 < os.path.getsize(fs_exports["float16"]) / os.path.getsize(fs_exports["litert"]) < 0.55
    types = _tensor_types(fs_exports["float16"])
    assert types["float16"] > 50 and types["int8"] == 0, types  # EfficientNet-Lite0's weights, in float16
    images, _, labels = split_images(fs_run)
    lite = predict(fs_exports["litert"], images)
    half = predict(fs_exports["float16"], images)
    assert not {"keras", "evoprune_deap"} & set(half["modules"]), half["modules"]
    found = agreement(lite["probabilities"], half["probabilities"], labels)
    assert found["agree"] >= 0.98 and found["max_abs_difference"] < 0.05, found


def test_int8_export_is_full_integer_calibrated_on_training_images(fs_run, fs_exports):
    """`--quantize int8`: every convolution and dense layer runs on int8 tensors, with ranges calibrated on
    the run's training images; the model still takes raw uint8 images and returns float32 probabilities."""
    from ai_edge_litert.interpreter import Interpreter

    record = json.load(open(fs_exports["int8"] + ".json"))
    n_train = len(_feature_set(fs_run).splits[0].train)
    assert record["quantize"] == "int8"
    assert record["calibration"] == {"images": min(300, n_train), "split": "train", "seed": 3}
    types = _tensor_types(fs_exports["int8"])
    # int8 weights and activations (int32 biases); float32 only around the cast of the uint8 input and
    # the dequantised probabilities (dynamic-range int8 keeps every activation in float32)
    assert types["int8"] > 100 and types["float32"] <= 4 and types["float16"] == 0, types
    model = Interpreter(model_path=fs_exports["int8"])
    source, target = model.get_input_details()[0], model.get_output_details()[0]
    assert source["dtype"] == np.uint8 and list(source["shape"]) == [1, 32, 32, 3]
    assert target["dtype"] == np.float32
    assert os.path.getsize(fs_exports["int8"]) < 0.35 * os.path.getsize(fs_exports["litert"])
    images, _, labels = split_images(fs_run)
    lite, int8 = (predict(fs_exports[key], images)["probabilities"] for key in ("litert", "int8"))
    found = agreement(lite, int8, labels)
    assert found["agree"] >= 0.9, found


def _feature_set(run_dir):
    from evoprune_deap.data.loading import load_feature_set
    from evoprune_deap.records.directory import RunDirectory

    return load_feature_set(RunDirectory(run_dir).read_config())


def test_calibration_images_are_a_seeded_draw_of_the_training_images(fs_run):
    from evoprune_deap.data.loading import config_source
    from evoprune_deap.records.directory import RunDirectory
    from evoprune_deap.shipping.deploy_check import calibration_images

    config = RunDirectory(fs_run).read_config()
    feature_set = _feature_set(fs_run)
    train = feature_set.splits[0].train
    every = calibration_images(config, feature_set, (32, 32), 10**6, seed=3)
    np.testing.assert_array_equal(every, config_source(config).load(train, 32))
    some = calibration_images(config, feature_set, (32, 32), 10, seed=3)
    assert len(some) == 10 and all((every == image).all(axis=(1, 2, 3)).any() for image in some)
    assert not np.array_equal(some, calibration_images(config, feature_set, (32, 32), 10, seed=4))
    assert calibration_images(config, feature_set, (25, 40), 10, seed=3).shape == (10, 25, 40, 3)


def test_the_sidecar_matches_the_files_it_describes(fs_run, fs_exports, weights_copy):
    """The JSON beside each model: the backbone weights' sha256 is the weights file's, the mask hash is the
    best mask's (its row of evaluations.csv has the fitness and active features summary.json reports),
    and the input shape and file size are the model's."""
    import hashlib

    import keras
    import pandas as pd
    from ai_edge_litert.interpreter import Interpreter

    digest = hashlib.sha256(open(weights_copy, "rb").read()).hexdigest()
    log = pd.read_csv(os.path.join(fs_run, "evaluations.csv"), dtype={"mask_hash": str})
    summary = json.load(open(os.path.join(fs_run, "summary.json")))
    for key in ("keras", "litert", "int8"):
        record = json.load(open(fs_exports[key] + ".json"))
        assert record["weights_sha256"] == digest and record["weights"] == weights_copy
        assert record["file_bytes"] == os.path.getsize(fs_exports[key]) and record["model"] == fs_exports[key]
        (best,) = record["mask_hashes"]
        row = log[log["mask_hash"] == best].iloc[0]
        assert row["fitness"] == summary["fitness"] and row["n_active"] == record["active_features"]
    assert json.load(open(fs_exports["keras"] + ".json"))["input"].endswith("any height and width")
    assert keras.saving.load_model(fs_exports["keras"]).input_shape == (None, None, None, 3)
    for key in ("litert", "int8"):
        assert json.load(open(fs_exports[key] + ".json"))["input"].endswith("height x width = 32 x 32")
        source = Interpreter(model_path=fs_exports[key]).get_input_details()[0]
        assert list(source["shape"]) == [1, 32, 32, 3] and source["dtype"] == np.uint8


def test_raw_images_are_resized_in_the_model_as_the_cache_resized_them(fs_run, fs_exports, tmp_path):
    """The faces' own 25 px: the .keras model takes any size, a LiteRT one the size it was exported for; both
    resize with PIL's filter, so they agree with the cached features up to PIL's uint8 rounding."""
    raw, features, labels = split_images(fs_run, 25)
    reference = two_stage(os.path.join(fs_run, "best_head.keras"), features)
    sized = str(tmp_path / "fs_25.tflite")
    assert main(["-q", "export", fs_run, "--format", "litert", "--input-size", "25x25", "--out", sized]) == 0
    for path in (fs_exports["keras"], sized):
        found = agreement(reference, predict(path, raw, env=KERAS_ON_TF)["probabilities"], labels)
        assert found["agree"] >= 0.95 and found["max_abs_difference"] < 0.1, (path, found)


CONVERT_TWICE = """
import os, sys
from evoprune_deap.shipping.litert import ConversionError, convert
from evoprune_deap.tensorflow_worker import shared_tensorflow_worker, tensorflow_worker

bad, good = sys.argv[1:3]
with shared_tensorflow_worker():
    with tensorflow_worker() as worker:
        before = worker.submit(os.getpid).result()
    try:
        convert(bad, bad + ".tflite")
    except ConversionError as exc:
        print("refused:", exc)
    convert(good, good + ".tflite")
    with tensorflow_worker() as worker:
        print("worker kept:", worker.submit(os.getpid).result() == before)
"""


def test_a_model_litert_cannot_run_is_one_clear_error_and_the_next_conversion_works(tmp_path):
    """In a fresh process (so its TensorFlow worker starts here and writes to the stderr captured here): a
    model with an op LiteRT has no built-in for (an antialiasing resize of any size) fails with the
    converter's reason in one line, the worker survives it and converts the next model, and nothing reaches
    stderr."""
    import subprocess
    import sys

    import keras

    bad, good = str(tmp_path / "resize.keras"), str(tmp_path / "dense.keras")
    keras.Sequential([keras.Input((None, None, 3)), keras.layers.Resizing(8, 8, antialias=True)]).save(bad)
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")]).save(good)
    done = subprocess.run(
        [sys.executable, "-c", CONVERT_TWICE, bad, good], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("refused: LiteRT conversion of") and bad in lines[0], lines
    assert "ScaleAndTranslate" in lines[0] and len(lines[0]) < 500, lines[0]
    assert not os.path.exists(bad + ".tflite") and os.path.getsize(good + ".tflite") > 0
    assert (
        lines[1] == "worker kept: True"
    )  # a model the converter refuses does not cost a TensorFlow start-up
    assert done.stderr == ""  # nothing from TensorFlow or its converter reached the terminal


def test_unpruned_member_exports_the_whole_network(fs_run, tmp_path):
    from evoprune_deap.shipping.export import export_model

    record = export_model(fs_run, member="unpruned", out=str(tmp_path / "unpruned.keras"))
    assert record["feature_selection"] == "none" and record["active_features"] == HEAD_FILTERS
    assert record["costs"]["backbone_parameters_removed"] == record["costs"]["head_parameters_removed"] == 0


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--member", "0123456789abcdef"], "no front.csv"),
        (["--out", "model.tflite"], "does not end with .keras"),
        (["--format", "litert", "--out", "model.keras"], "does not end with .tflite"),
        (["--quantize", "dynamic"], "needs --format litert"),
        (["--quantize", "int8"], "needs --format litert"),
        (["--selected", "nothing.keras"], "'nothing.keras' does not exist"),
        (["--selected", os.path.abspath(__file__)], "is not a .keras file"),
        (["--input-size", "300"], "is not HEIGHTxWIDTH"),
    ],
)
def test_bad_export_options_get_one_line_and_write_nothing(
    fs_run, extra, expected, tmp_path, monkeypatch, refused
):
    monkeypatch.chdir(tmp_path)
    refused(["export", fs_run, *extra], expected, fs_run, tmp_path)
    assert os.listdir(tmp_path) == []


def test_a_run_whose_backbone_weights_file_is_gone_is_refused(fs_run, weights_copy, refused):
    moved = weights_copy + ".away"
    os.rename(weights_copy, moved)
    try:
        line = refused(["export", fs_run], "weights file", fs_run)
    finally:
        os.rename(moved, weights_copy)
    assert weights_copy in line and "is gone" in line


def test_report_tables_what_each_export_removed(fs_run, capsys):
    """Last in this file: it writes the default RUN_DIR/export/ that the bad-input tests must not find."""
    import json

    from evoprune_deap.report.tables import write_report

    assert main(["export", fs_run]) == 0
    out = capsys.readouterr().out
    record = json.load(open(os.path.join(fs_run, "export", "best.keras.json")))
    assert f"saved {os.path.join(fs_run, 'export', 'best.keras')}" in out
    table = write_report([fs_run], os.path.join(os.path.dirname(fs_run), "report"))["export_table"]
    row = table.iloc[0]
    assert row["feature_selection"] == "folded" and row["active_features"] == record["active_features"]
    assert row["backbone_parameters_removed"] == (HEAD_FILTERS - record["active_features"]) * (320 + 4)
    assert row["head_parameters_removed"] == record["costs"]["head_parameters_removed"] > 0
