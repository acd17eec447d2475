"""Bad input met as a user meets it: `evoprune ...` in a shell, without -q.

Each case must exit 2 with exactly one line on stderr (fd 2, so worker processes and warnings count
too), name the bad value, show no traceback, and create or change no file (names, sizes and
modification times are compared).
"""

import os
import subprocess
import sys

import pytest
from conftest import check_refusal, snapshot, write_digits_folder

pytestmark = pytest.mark.slow  # each case is an `evoprune` subprocess


def _refused(args, cwd, match, env=None, debug=False):
    env = {**os.environ, **(env or {})}
    before = snapshot(cwd, env["EVOPRUNE_CACHE_DIR"])
    done = subprocess.run(
        [sys.executable, "-m", "evoprune_deap", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if debug:  # the traceback, then the same last line
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert done.returncode == 2 and lines[-1].startswith("evoprune: error: ") and match in lines[-1], (
            done.stderr
        )
        line = lines[-1]
    else:
        line = check_refusal(done.returncode, done.stderr, match)
    assert snapshot(cwd, env["EVOPRUNE_CACHE_DIR"]) == before
    return line


@pytest.fixture
def work(tmp_path):
    (tmp_path / "a_file.txt").write_text("not a folder")
    return tmp_path


def test_digit_named_class_folders_are_classes_not_folds_end_to_end(tmp_path):
    """MNIST-style DIR/0/*.png ... DIR/2/*.png: extract, run and report."""
    from evoprune_deap.cli import main
    from evoprune_deap.data.images.sources import load_source

    root = tmp_path / "mnist_like"
    write_digits_folder(root, n_per_class=10)
    for label in range(3):
        os.rename(root / f"digit{label}", root / str(label))
    source = load_source(images=str(root))
    assert source.class_names == ("0", "1", "2") and source.partition_kind == "none"
    cache = str(tmp_path / "digits.npz")
    assert main(["-q", "extract", "--images", str(root), "--image-size", "32", "--out", cache]) == 0
    run = str(tmp_path / "run")
    assert (
        main(
            [
                "-q",
                "run",
                "--features",
                cache,
                "--population",
                "4",
                "--evaluations",
                "4",
                "--max-epochs",
                "2",
                "--hidden-units",
                "16",
                "--workers",
                "1",
                "--run-dir",
                run,
            ]
        )
        == 0
    )
    assert main(["-q", "report", run, "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "runs.csv").exists()


def test_numbered_folders_mixing_folds_and_classes_are_one_clear_error(work):
    root = work / "mixed"
    write_digits_folder(root / "0", n_per_class=3)  # a fold: class subfolders
    write_digits_folder(root / "1" / "x", n_per_class=3)
    os.rename(root / "1" / "x" / "digit0", root / "1" / "_d")
    (root / "2").mkdir()
    (root / "2" / "img.png").write_bytes((root / "0" / "digit0" / "0.png").read_bytes())  # a class: images
    _refused(["extract", "--images", str(root)], work, "mixes numbered fold folders")


def test_a_file_given_as_an_image_folder(work):
    _refused(["extract", "--images", str(work / "a_file.txt")], work, "is a file, not a folder")


def test_images_in_a_nested_class_subfolder_are_not_dropped_silently(work):
    root = work / "nested"
    write_digits_folder(root, n_per_class=3)
    os.makedirs(root / "digit0" / "more")
    os.rename(root / "digit0" / "0.png", root / "digit0" / "more" / "0.png")
    _refused(["extract", "--images", str(root)], work, "subfolder with images")


@pytest.mark.parametrize(
    "args, match",
    [
        (["run", "--config", "."], "is a folder"),
        (["report", "runs", "--out", "a_file.txt"], "is a file, not a folder"),
        (["plot", "runs", "--out", "a_file.txt"], "is a file, not a folder"),
        (["extract", "--out", "a_file.txt/x.npz"], "lies inside"),
        (["run", "--tensorboard", "a_file.txt"], "--tensorboard"),
        (["run", "--scheduler", "foo"], "scheduler='foo'"),
        (["run", "--scheduler", "http://127.0.0.1:9"], "scheduler='http://127.0.0.1:9'"),
        (["run", "--scheduler", "127.0.0.1:notaport"], "scheduler='127.0.0.1:notaport'"),
        (["run", "--workers", "1000"], "--workers 1000 would start 1000 processes"),
        (["run", "--population"], "expected one argument"),
        (["run", "--evaluations", "five"], "invalid int value"),
    ],
)
def test_refused_before_any_work(work, args, match):
    _refused(args, work, match)


def test_a_cache_folder_that_is_a_file(work):
    _refused(["extract"], work, "cache folder", env={"EVOPRUNE_CACHE_DIR": str(work / "a_file.txt")})


def test_resume_refuses_options_that_would_contradict_the_run(work, faces_cache, faces_features):
    from evoprune_deap.config import from_dict
    from evoprune_deap.records.directory import RunDirectory

    run = RunDirectory(str(work / "run")).create()
    run.write_config(from_dict({"data": {"features": faces_cache}}))
    for option in (
        ["--evaluations", "5"],
        ["--encoding", "fs"],
        ["--features", faces_cache],
        ["--preset", "paper"],
    ):
        _refused(
            ["run", "--resume", str(work / "run"), *option], work, f"{option[0]} cannot be used with --resume"
        )


def test_a_finished_run_is_not_offered_a_resume(work, faces_cache):
    (work / "done").mkdir()
    (work / "done" / "summary.json").write_text("{}")
    line = _refused(["run", "--features", faces_cache, "--run-dir", str(work / "done")], work, "finished run")
    assert "--resume" not in line


def test_debug_shows_the_traceback_and_keeps_exit_code_2(work):
    _refused(["--debug", "run", "--config", "."], work, "is a folder", debug=True)


@pytest.mark.parametrize(
    "side", [40, 50]
)  # over the limit (PIL warns) and over twice the limit (PIL refuses)
def test_an_image_over_the_decompression_bomb_limit_is_named_with_the_way_to_allow_it(work, side):
    from PIL import Image

    root = work / "big"
    write_digits_folder(root, n_per_class=3)
    Image.new("L", (side, side)).save(root / "digit1" / "huge.png")
    line = _refused(
        ["extract", "--images", str(root), "--image-size", "32"],
        work,
        "huge.png",
        env={"EVOPRUNE_MAX_IMAGE_PIXELS": "1000"},
    )
    assert "limit of 1000" in line and "EVOPRUNE_MAX_IMAGE_PIXELS" in line
