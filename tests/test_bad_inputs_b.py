"""Issue 32, part B: bad images, folders, zips, weights, caches and run files are refused as a user meets
them: one line on fd 2, exit 2, no traceback, the file and the fix named, nothing written, and before a
backbone loads (``no_backbone`` fails the test if one would)."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
import zipfile

import numpy as np
import pytest
from conftest import check_refusal, snapshot, write_digits_folder
from PIL import Image


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A folder to stand in, with its own cache folder and a real 2-class digit image folder at 32 px."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EVOPRUNE_CACHE_DIR", str(tmp_path / "cache"))
    os.makedirs("cache")
    write_digits_folder(tmp_path / "digits", n_per_class=8, classes=(0, 1), size=32)
    return tmp_path


@pytest.fixture
def no_backbone(monkeypatch):
    """Any feature extraction (a backbone loading) fails the test: refusals must come first."""
    import evoprune_deap.data.backbones as backbones
    import evoprune_deap.data.extraction as extraction

    def loaded(*args, **kwargs):
        raise AssertionError("a backbone was loaded before the refusal")

    monkeypatch.setattr(extraction, "embed_source", loaded)
    monkeypatch.setattr(backbones, "build_backbone", loaded)


def _copy_digits(name: str) -> str:
    import shutil

    shutil.copytree("digits", name)
    return name


def _pixel_features(path: str, n_samples: int = 150, **metadata) -> str:
    """scikit-learn's real 8x8 digits (classes 0-2) as a feature cache of their pixels."""
    from sklearn.datasets import load_digits

    from evoprune_deap.data.features import FeatureSet
    from evoprune_deap.data.splits import make_splits
    from evoprune_deap.seeding import make_rng

    digits = load_digits()
    keep = digits.target < 3
    x, y = digits.data[keep][:n_samples].astype(np.float32), digits.target[keep][:n_samples]
    names = ("d0", "d1", "d2") if "class_names" not in metadata else metadata.pop("class_names")
    splits = make_splits(y, np.zeros_like(y), "none", 0.2, 0.25, make_rng(0), names)
    FeatureSet(x, y.astype(np.int64), names, splits, {"source": "digits8", **metadata}).save(path)
    return path


# ------------------------------------------------------------------ images (item 2, 7)
def test_a_dangling_symlink_image_is_named(ws, refused, no_backbone):
    os.symlink(str(ws / "gone.png"), _copy_digits("d") + "/digit0/zz.png")
    refused(["extract", "--images", "d"], "zz.png' is a broken symbolic link", ws)


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_a_damaged_png_is_refused_before_the_backbone_loads(ws, refused, no_backbone, damage):
    path = os.path.join(_copy_digits("d"), "digit1", "3.png")
    data = open(path, "rb").read()
    content = {"empty": b"", "garbage": b"not an image at all", "truncated": data[: len(data) // 2]}[damage]
    with open(path, "wb") as stream:
        stream.write(content)
    line = refused(["extract", "--images", "d"], "3.png' (", ws)
    assert "remove or replace the file" in line
    assert damage != "empty" or "empty (0 bytes)" in line


def test_a_decompression_bomb_is_refused_before_the_backbone_loads(ws, refused, no_backbone, monkeypatch):
    Image.new("L", (300, 300)).save(_copy_digits("d") + "/digit0/big.png")
    monkeypatch.setenv("EVOPRUNE_MAX_IMAGE_PIXELS", "20000")  # 90 000 pixels: more than twice the limit
    line = refused(["extract", "--images", "d"], "big.png' has more pixels than the limit of 20000", ws)
    assert "EVOPRUNE_MAX_IMAGE_PIXELS=<pixels>" in line


def test_a_bad_pixel_limit_is_refused_before_the_backbone_loads(ws, refused, no_backbone, monkeypatch):
    monkeypatch.setenv("EVOPRUNE_MAX_IMAGE_PIXELS", "lots")
    refused(["extract", "--images", "digits"], "EVOPRUNE_MAX_IMAGE_PIXELS='lots' is not a number", ws)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--weights", "none"], "efficientnet_lite0 uses its packaged ImageNet weights: drop --weights"),
        (["--weights", "fake.pth"], "fake.pth' is not EfficientNet-Lite0's ImageNet file"),
        (["--backbone", "resnet50", "--weights", "fake.pth"], "fake.pth': not an HDF5 weights file"),
    ],
)
def test_bad_weights_are_refused_before_the_backbone_loads(ws, refused, no_backbone, argv, message):
    (ws / "fake.pth").write_bytes(b"PK\x03\x04 not the weights")
    refused(["extract", "--images", "digits", "--image-size", "32", *argv], message, ws)


def test_an_unreadable_class_folder_is_named(ws):
    """As root, run with no capabilities (root reads anything otherwise)."""
    _copy_digits("d")
    os.chmod("d/digit1", 0)
    command = [sys.executable, "-m", "evoprune_deap", "extract", "--images", "d"]
    if os.geteuid() == 0:
        command = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", *command]
    before = snapshot(ws)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    finally:
        os.chmod("d/digit1", 0o755)
    line = check_refusal(done.returncode, done.stderr, "digit1' cannot be read (permission denied)")
    assert "chmod -R u+rX" in line
    assert snapshot(ws) == before


def test_a_test_folder_lacking_a_class_is_refused(ws, refused, no_backbone):
    write_digits_folder(ws / "test", n_per_class=4, classes=(0,), size=32)
    line = refused(["extract", "--images", "digits", "--test-images", "test"], "has no class 'digit1'", ws)
    assert "add its test images" in line


def test_a_fold_lacking_a_class_is_refused(ws, refused, no_backbone):
    write_digits_folder(ws / "folds" / "0", n_per_class=4, classes=(0, 1), size=32)
    write_digits_folder(ws / "folds" / "1", n_per_class=4, classes=(0,), size=32)
    refused(["extract", "--images", "folds"], "folds/1' has no class 'digit1'", ws)


# ------------------------------------------------------------------ zips (item 3)
def _zip(path: str, entries: dict) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _digit_files() -> dict:
    return {
        f"{label}/{name}": open(os.path.join("digits", label, name), "rb").read()
        for label in os.listdir("digits")
        for name in os.listdir(os.path.join("digits", label))
    }


def test_a_macos_zip_is_read_without_its_resource_forks(ws):
    from evoprune_deap.data.images.sources import load_source

    entries = {f"pics/{name}": data for name, data in _digit_files().items()}
    entries.update(
        {f"__MACOSX/pics/{os.path.dirname(n)}/._{os.path.basename(n)}": b"\0\5" for n in _digit_files()}
    )
    entries.update({"pics/.DS_Store": b"junk", "pics/digit0/._0.png": b"\0\5"})
    source = load_source(images=_zip("mac.zip", entries))
    assert source.class_names == ("digit0", "digit1") and source.n_samples == 16
    assert all("__MACOSX" not in path and "/._" not in path for path in source.files)
    source.check_files()  # every listed file is a real image


def test_a_zip_without_class_folders_is_refused_and_nothing_is_unzipped(ws, refused, no_backbone):
    flat = {os.path.basename(name) + str(i): data for i, (name, data) in enumerate(_digit_files().items())}
    _zip("flat.zip", {f"pics/{name}.png": data for name, data in flat.items()})
    line = refused(["extract", "--images", "flat.zip"], "flat.zip' has only one class ('pics')", ws)
    assert "flat.zip" in line and "evoprune-unzip" not in line
    assert not os.path.exists(ws / "cache" / "unzipped")


# ------------------------------------------------------------------ caches (items 2, 3, 6)
def test_a_cache_cut_to_fewer_features_than_its_backbone_gives_is_refused(ws, refused):
    cut = _pixel_features("cut.npz", backbone="efficientnet_lite0", n_features=1280, image_size=32)
    line = refused(["run", "--features", cut], "holds 64 features per image, but backbone", ws)
    assert "gives 1280" in line and "cut.npz" in line and "evoprune extract --force" in line


def test_a_plain_arrays_npz_is_told_what_it_is(ws, refused):
    np.savez("xy.npz", X=np.ones((4, 3)), y=np.arange(4))
    line = refused(
        ["run", "--features", "xy.npz"], "xy.npz' holds arrays ['X', 'y'] but no evoprune metadata", ws
    )
    assert "--force" not in line and "EvoPruneClassifier().fit(X, y)" in line


def test_extract_never_overwrites_a_file_that_is_not_a_cache(ws, refused, no_backbone):
    (ws / "notes.npz").write_text("my notes\n")
    for force in ([], ["--force"]):
        line = refused(
            ["extract", "--images", "digits", "--out", "notes.npz", *force], "is not overwritten", ws
        )
        assert "notes.npz" in line and "evoprune extract --out" not in line


def test_more_cv_folds_than_images_in_a_class_are_refused_before_any_work(ws, refused, no_backbone):
    line = refused(["run", "--images", "digits", "--cv-folds", "10"], "--cv-folds 10", ws)
    assert "class 'digit0' has" in line and "or fewer" in line
    features = _pixel_features("px.npz", n_samples=45)  # about 11 training and validation images a class
    refused(["run", "--features", features, "--cv-folds", "20"], "--cv-folds 20", ws)


def test_an_ood_cache_of_another_image_size_is_refused_before_extraction(ws, refused, no_backbone):
    ood = _pixel_features(
        "ood48.npz", backbone="efficientnet_lite0", image_size=48, class_names=("a", "b", "c")
    )
    argv = [
        "run",
        "--images",
        "digits",
        "--image-size",
        "32",
        "--ood-features",
        ood,
        "--objectives",
        "accuracy,ood",
    ]
    line = refused(argv, "ood48.npz' were made with image_size = 48, the run uses 32", ws)
    assert "same backbone and image size" in line


# ------------------------------------------------------------------ runs: resume, export, report
def _fake_finished_run(path: str, front: bool = False) -> str:
    """The files ``export`` reads before it loads anything: config.toml, summary.json, the best head."""
    os.makedirs(path)
    (open(os.path.join(path, "config.toml"), "w")).write("[ga]\npopulation = 4\n")
    (open(os.path.join(path, "summary.json"), "w")).write(json.dumps({"encoding": "fc1"}))
    if front:
        (open(os.path.join(path, "front.csv"), "w")).write("mask_hash,accuracy\nabc123,0.9\ndef456,0.8\n")
    return path


def test_a_truncated_best_head_is_refused_at_once(ws, refused, no_backbone):
    run = _fake_finished_run("run")
    _zip("whole.keras", {"config.json": "{}" * 2000, "model.weights.h5": os.urandom(50_000)})
    (ws / run / "best_head.keras").write_bytes((ws / "whole.keras").read_bytes()[:30_000])
    start = time.perf_counter()
    line = refused(["export", run], "best_head.keras' is truncated or corrupt", ws)
    assert time.perf_counter() - start < 5 and "--member unpruned" in line


def test_export_member_of_a_run_is_checked_before_the_backbone_loads(ws, refused, no_backbone):
    single, pareto = _fake_finished_run("single"), _fake_finished_run("pareto", front=True)
    refused(["export", single, "--member", "abc123"], "has no front.csv (a single-objective run)", ws)
    line = refused(["export", pareto, "--member", "nothash"], "--member 'nothash' is not in", ws)
    assert "abc123, def456" in line


def test_export_of_a_folder_that_is_no_run_says_so(ws, refused):
    line = refused(["export", "digits"], "'digits' is not a run directory", ws)
    assert "nothing to resume" not in line and "pass a finished run directory" in line


@pytest.mark.parametrize("command", ["report", "plot"])
def test_report_of_a_file_names_the_file_not_an_out_never_passed(ws, refused, command):
    (ws / "notes.txt").write_text("x\n")
    line = refused([command, "notes.txt"], "'notes.txt' is a file, not a run directory", ws)
    assert "--out" not in line


def test_a_refused_resume_of_a_garbage_log_leaves_the_lock_alone(ws, refused):
    os.makedirs("run")
    (ws / "run" / "config.toml").write_text("[ga]\npopulation = 4\n")
    (ws / "run" / "evaluations.csv").write_text("garbage,,\nx\n")
    (ws / "run" / ".lock").write_text("12345")
    refused(["run", "--resume", "run"], "evaluations.csv", ws)  # .lock: same size and mtime


def test_errors_after_the_quick_preset_notice_are_alone_on_fd_2(ws, refused):
    features = _pixel_features("px.npz")
    refused(["run", "--features", features, "--scheduler", "tcp://127.0.0.1:1"], "tcp://127.0.0.1:1", ws)


# ------------------------------------------------------------------ TOML paths, signals, glyphs (item 7)
def test_relative_paths_in_a_toml_name_files_beside_it(ws, refused, no_backbone):
    from evoprune_deap.config import load_config

    os.makedirs("configs")
    (ws / "configs" / "run.toml").write_text('[data]\nimages = "../digits"\nood_images = "ood"\n')
    elsewhere = ws / "digits" / "digit0"
    os.chdir(elsewhere)
    config = load_config("../../configs/run.toml")
    assert config.data.images == str(ws / "digits") and config.data.ood_images == str(ws / "configs" / "ood")
    (ws / "configs" / "bad.toml").write_text('[data]\nimages = "missing"\n')
    refused(
        ["extract", "--config", "../../configs/bad.toml"], f"{ws / 'configs' / 'missing'}' does not exist", ws
    )


def _evoprune(*argv, cwd, group=False):
    return subprocess.Popen(
        [sys.executable, "-m", "evoprune_deap", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,  # its own process group, which a job scheduler signals as a whole
    )


def test_sigterm_stops_a_run_as_ctrl_c_does_with_an_absolute_resume_hint(ws):
    """A job scheduler's stop: the first SIGTERM finishes the evaluation in progress, the second stops at once
    (here, a head that would train forever); either way the hint names the run by its absolute path."""
    features = _pixel_features("px.npz")
    (ws / "slow.toml").write_text("[head]\nmax_epochs = 100000\npatience = 100000\nmin_delta = 0.0\n")
    argv = ["run", "--features", features, "--config", "slow.toml", "--population", "4", "--evaluations", "8"]
    process = _evoprune(*argv, "--workers", "1", "--run-dir", "runs/r", cwd=ws)
    deadline = time.time() + 240
    while not (ws / "runs" / "r" / "evaluations.csv").exists():  # the GA has started: a head is training
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert process.poll() is None  # the first one waits for the evaluation in progress
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert f"continue with `evoprune run --resume {ws / 'runs' / 'r'}`" in err


def test_sigterm_to_the_process_group_stops_a_multi_objective_run_on_a_local_cluster_with_one_line(ws):
    """NSGA-II on two Dask workers, and SIGTERM to the whole process group (as `timeout` or Slurm send it):
    the workers keep training (none is restarted), the run finishes the evaluation in progress, cancels the
    rest of the batch while the cluster is up, and says one thing (no Dask warning, no "Exception
    ignored in" from a batch left open)."""
    features = _pixel_features("px.npz")
    (ws / "slow.toml").write_text("[head]\nmax_epochs = 400\npatience = 100000\nmin_delta = 0.0\n")
    argv = [
        "run",
        "--features",
        features,
        "--config",
        "slow.toml",
        "--population",
        "6",
        "--evaluations",
        "12",
    ]
    argv += ["--objectives", "accuracy,active", "--reevaluate", "0", "--workers", "2", "--run-dir", "runs/r"]
    process = _evoprune(*argv, cwd=ws, group=True)
    deadline = time.time() + 240
    while not (ws / "runs" / "r" / "finished.csv").exists():  # a first head has finished; others train
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("evoprune: Interrupted after "), err
    # no worker was killed and restarted, no batch left open (a busy worker may still log its lost heartbeat)
    assert "Restarting worker" not in err and "Removing worker" not in err, err
    assert "Exception ignored" not in err, err
    assert f"continue with `evoprune run --resume {ws / 'runs' / 'r'}`" in err


def test_a_result_the_closing_client_cannot_fetch_is_not_journaled_nor_raised_in_its_thread():
    from distributed.comm.core import CommClosedError

    from evoprune_deap.evaluation.cluster import _journal

    class Done:  # a task that finished on a worker whose result cannot be fetched any more
        status = "finished"

        def result(self):
            raise CommClosedError("in <TCP (closed) ConnectionPool.gather>: Stream is closed")

    journaled = []
    _journal(lambda mask, result: journaled.append(mask), "honest", [np.ones(4, bool)], Done())
    assert journaled == []


def test_a_cjk_dataset_name_draws_without_a_warning_per_glyph():
    from evoprune_deap.report.plots import plot_kept_units

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure = plot_kept_units({"太阳能电池 fc1": np.ones(16, bool)}, title="太阳能电池 (태양 전지)")
        figure.canvas.draw()
    assert not [w for w in caught if "missing from font" in str(w.message)], [str(w.message) for w in caught]


# ------------------------------------------------------------------ every message names the fix (item 6)
FIXES = [
    (["report", "empty"], "No finished run", "finish a run with `evoprune run`"),
    (["extract", "--test-images", "digits"], "--test-images needs --images", "pass --images DIR too"),
    (["extract", "--images", "onefold"], "has only 1 fold", "or put the classes directly in the folder"),
    (["extract", "--images", "digits", "--test-images", "test3"], "has class 'digit2'", "remove the class"),
    (["extract", "--images", "single"], "has only one class", "add another class's folder"),
]


@pytest.mark.parametrize("argv, problem, fix", FIXES, ids=[" ".join(argv) for argv, _, _ in FIXES])
def test_each_message_names_the_fix(ws, refused, no_backbone, argv, problem, fix):
    os.makedirs("empty")
    write_digits_folder(ws / "onefold" / "0", n_per_class=3, classes=(0, 1), size=32)
    write_digits_folder(ws / "test3", n_per_class=3, classes=(0, 1, 2), size=32)
    write_digits_folder(ws / "single", n_per_class=3, classes=(0,), size=32)
    assert fix in refused(argv, problem, ws)


def test_a_missing_run_directory_names_the_fix(tmp_path, refused):
    """select of a folder that does not exist: one line with what to pass instead."""
    missing = tmp_path / "runs" / "elpv_fc1_seed0_typo"
    line = refused(["select", str(missing), "--knee"], "does not exist", tmp_path)
    assert "'run directory:'" in line
