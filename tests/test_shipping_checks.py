"""What `evoprune export` ships, checked against the files: front members, ensembles, keras.applications
backbones, and the TensorFlow worker that extraction and conversion share.

Real runs (scikit-image's LFW faces at 32 px, tiny budgets), real conversions, fresh processes.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from evoprune_deap.cli import main
from evoprune_deap.shipping.deploy_check import agreement, split_images, two_stage
from evoprune_deap.shipping.litert import ConversionError, convert, predict
from evoprune_deap.tensorflow_worker import tensorflow_worker

pytestmark = pytest.mark.slow  # real runs, real conversions, fresh processes

KERAS_ON_TF = {"KERAS_BACKEND": "tensorflow"}
TINY = ["--image-size", "32", "--population", "4", "--evaluations", "6", "--max-epochs", "4"]
TINY += ["--workers", "1", "--seed", "5"]


@pytest.fixture(scope="module")
def front_run(faces_folder, tmp_path_factory):
    """A two-objective run (accuracy, active units): it has a front.csv and no best head."""
    run_dir = str(tmp_path_factory.mktemp("front") / "nsga2")
    argv = ["-q", "run", "--images", faces_folder, "--objectives", "accuracy,active", *TINY]
    assert main([*argv, "--run-dir", run_dir]) == 0
    return run_dir


def _worker_pid() -> int:
    with tensorflow_worker() as worker:
        return worker.submit(os.getpid).result()


def test_a_front_member_exports_as_the_member_select_retrains(front_run, tmp_path):
    """`export --member HASH` retrains the member from the run's seed, as `evoprune select` does: the exported
    model gives the selected head's probabilities on the cached test features, on every test image."""
    selected = str(tmp_path / "most_accurate.keras")
    assert main(["-q", "select", front_run, "--max-active", "100%", "--out", selected]) == 0
    chosen = json.load(open(os.path.splitext(selected)[0] + ".json"))["mask_hash"]
    out = str(tmp_path / "member.keras")
    assert main(["-q", "export", front_run, "--member", chosen, "--out", out]) == 0
    record = json.load(open(out + ".json"))
    assert record["mask_hashes"] == [chosen] and record["source"] == f"member:{chosen}"
    images, features, labels = split_images(front_run)
    reference = two_stage(selected, features)
    exported = predict(out, images, env=KERAS_ON_TF)
    found = agreement(reference, exported["probabilities"], labels)
    assert found["agree"] == 1.0 and found["max_abs_difference"] < 1e-4, found


def test_an_ensemble_exports_as_one_model_that_loads_without_the_package(front_run, tmp_path):
    """The ensemble of `evoprune ensemble` as one .keras image model: plain Keras loads it in a fresh process
    that never imports evoprune_deap, and it votes as the ensemble file does on the cached features."""
    ensemble = str(tmp_path / "all.keras")
    assert main(["-q", "ensemble", front_run, "--window", "0-100", "--out", ensemble]) == 0
    members = json.load(open(os.path.splitext(ensemble)[0] + ".json"))["members"]
    out = str(tmp_path / "ensemble_image.keras")
    assert main(["-q", "export", front_run, "--selected", ensemble, "--out", out]) == 0
    record = json.load(open(out + ".json"))
    assert record["n_heads"] == len(members) >= 2 and record["mask_hashes"] == members
    images, features, labels = split_images(front_run)
    exported = predict(out, images, env=KERAS_ON_TF)
    assert exported["runtime"] == "keras (tensorflow)" and "evoprune_deap" not in exported["modules"]
    found = agreement(two_stage(ensemble, features), exported["probabilities"], labels)
    assert found["agree"] == 1.0 and found["max_abs_difference"] < 1e-4, found


def test_a_keras_applications_backbone_exports_folded_end_to_end(faces_folder, tmp_path):
    """VGG19 with random weights (weights=None, saved to a file as a user's own weights would be), an `fs`
    run at 32 px: its last convolution keeps only the selected filters, and the .keras and LiteRT models
    classify as the two-stage pipeline does."""
    import keras

    weights = str(tmp_path / "vgg19_random.weights.h5")
    keras.utils.set_random_seed(0)
    keras.applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3)).save_weights(weights)
    run_dir = str(tmp_path / "vgg19_fs")
    argv = ["run", "--images", faces_folder, "--backbone", "vgg19", "--weights", weights, "--encoding", "fs"]
    assert main(["-q", *argv, *TINY, "--run-dir", run_dir]) == 0
    images, features, labels = split_images(run_dir)
    reference = two_stage(os.path.join(run_dir, "best_head.keras"), features)
    for fmt, suffix, env in [("keras", ".keras", KERAS_ON_TF), ("litert", ".tflite", None)]:
        out = str(tmp_path / f"vgg19{suffix}")
        assert main(["-q", "export", run_dir, "--format", fmt, "--out", out]) == 0
        record = json.load(open(out + ".json"))
        kept = record["active_features"]
        assert record["backbone"] == "vgg19" and record["feature_selection"] == "folded" and 0 < kept < 512
        # the last conv (3x3, 512 -> 512, with bias) loses every unselected filter
        assert record["costs"]["backbone_parameters_removed"] == (512 - kept) * (3 * 3 * 512 + 1)
        found = agreement(reference, predict(out, images, env=env)["probabilities"], labels)
        # random VGG19 features give a head of small margins: the probabilities, not only the classes, must
        # match (3e-8 here for both formats; the last conv's filters out of order moves them by 2e-3)
        assert found["agree"] == 1.0 and found["max_abs_difference"] < 1e-5, (fmt, found)


def test_a_run_on_random_backbone_weights_is_refused_by_export(faces_folder, tmp_path, refused):
    """`--weights none` builds the backbone with random weights that no file keeps: an export would draw
    other weights and compute other features, so it is refused before any work."""
    run_dir = str(tmp_path / "random")
    argv = ["-q", "run", "--images", faces_folder, "--backbone", "vgg19", "--weights", "none", *TINY]
    assert main([*argv, "--run-dir", run_dir]) == 0
    line = refused(
        ["export", run_dir, "--out", str(tmp_path / "m.keras")], "--weights none", run_dir, tmp_path
    )
    assert run_dir in line and "--weights FILE" in line


def test_int8_of_a_run_made_from_a_feature_cache_alone_is_refused(
    faces_features, faces_cache, tmp_path, refused
):
    """Full-integer int8 calibrates on the run's training images; a run made from `--features` has none to
    read (its config names no images), so `--quantize int8` is refused before any work, naming the fix."""
    run_dir = str(tmp_path / "from_cache")
    argv = ["-q", "run", "--features", faces_cache, "--population", "4", "--evaluations", "4"]
    assert main([*argv, "--max-epochs", "2", "--workers", "1", "--run-dir", run_dir]) == 0
    line = refused(
        ["export", run_dir, "--format", "litert", "--quantize", "int8", "--out", str(tmp_path / "m.tflite")],
        "--quantize int8 calibrates on the run's training images",
        run_dir,
        tmp_path,
    )
    assert faces_cache in line and "--quantize float16" in line


def test_a_failed_extraction_drops_the_shared_worker_and_the_next_one_works(faces_folder, tmp_path):
    """Inside one command (the suite shares one worker, as a command does): an extraction that fails in the
    worker (its folder vanished after it was listed) drops that worker; the next extraction starts a new
    one and gives the features an extraction of its own gives."""
    import shutil

    from evoprune_deap.data.extraction import embed_source
    from evoprune_deap.data.images.sources import load_source
    from evoprune_deap.errors import DatasetError

    vanishing = str(tmp_path / "faces")
    shutil.copytree(faces_folder, vanishing)
    source = load_source(images=vanishing)
    before = _worker_pid()
    shutil.rmtree(vanishing)
    with pytest.raises(DatasetError):
        embed_source(source, "efficientnet_lite0", 32, None, 64)
    after = _worker_pid()
    assert after != before
    features, _ = embed_source(load_source(images=faces_folder), "efficientnet_lite0", 32, None, 64)
    assert features.shape == (200, 1280) and np.isfinite(features).all()
    assert _worker_pid() == after  # a job that succeeded keeps the worker


def test_a_dead_worker_fails_one_job_in_one_line_and_is_replaced(tmp_path):
    """A worker killed by the system (the OOM killer, a signal): the job that finds it dead fails with one
    clear error, and the next job runs in a new worker."""
    import keras

    model = str(tmp_path / "dense.keras")
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")]).save(model)
    dead = _worker_pid()
    os.kill(dead, signal.SIGKILL)
    for _ in range(100):  # until the kernel has reaped it
        if subprocess.run(["kill", "-0", str(dead)], capture_output=True).returncode != 0:
            break
        time.sleep(0.05)
    with pytest.raises(ConversionError, match="the TensorFlow worker died") as failed:
        convert(model, str(tmp_path / "first.tflite"))
    assert len(str(failed.value).splitlines()) == 1
    convert(model, str(tmp_path / "second.tflite"))
    assert os.path.getsize(tmp_path / "second.tflite") > 0 and _worker_pid() != dead


COUNT_STARTS = """
import sys
import evoprune_deap.tensorflow_worker as workers

started, real_new = [], workers._new
def counted():
    started.append(1)
    return real_new()
workers._new = counted
from evoprune_deap.cli import main
code = main(sys.argv[1:])
print("exit", code, "tensorflow workers started", len(started))
"""


def test_one_command_starts_tensorflow_once(faces_folder, tmp_path):
    """A run with OOD images extracts twice (the dataset and the OOD images) in one TensorFlow worker: one
    start-up (about 5 s) per command, not per extraction."""
    from conftest import write_digits_folder

    digits = write_digits_folder(tmp_path / "digits", n_per_class=6)
    run_dir = str(tmp_path / "ood_run")
    argv = ["-q", "run", "--images", faces_folder, "--ood-images", digits, *TINY, "--run-dir", run_dir]
    done = subprocess.run(
        [sys.executable, "-c", COUNT_STARTS, *argv],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "KERAS_BACKEND": "jax"},
    )
    assert done.stdout.strip().splitlines()[-1] == "exit 0 tensorflow workers started 1", done.stderr[-2000:]
    assert os.path.exists(os.path.join(run_dir, "summary.json"))
