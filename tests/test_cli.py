import os
import subprocess
import sys

import pytest
from conftest import write_digits_folder

NATIVE_NOISE = ("absl", "oneDNN", "TF_ENABLE", "tensorflow", "I0000", "W0000", "E0000", "cuda", "XLA")


def evoprune(*args, cwd=None, env_extra=None):
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"), **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "evoprune_deap", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=600,
    )


@pytest.mark.slow
def test_extract_then_reuse(tmp_path):
    folder = write_digits_folder(tmp_path / "digits", n_per_class=10)
    out = str(tmp_path / "digits.npz")
    first = evoprune("extract", "--images", folder, "--image-size", "32", "--out", out)
    assert first.returncode == 0, first.stderr
    assert "extracted" in first.stdout and "30 images x 1280 features, 3 classes" in first.stdout
    # stderr is a pipe here, as in a log: the extraction says so in a line (no bar, not silent)
    assert "evoprune: extracting features: " in first.stderr and "images embedded" in first.stderr
    second = evoprune("extract", "--images", folder, "--image-size", "32", "--out", out)
    assert second.returncode == 0 and "reused cache" in second.stdout
    assert "extracting features" not in second.stderr  # a cache hit embeds nothing


def test_quiet_is_one_calls_option_not_the_processs(tmp_path):
    """In-process callers (tests, notebooks) make several calls: -q in one must not silence the next."""
    from evoprune_deap.cli import main, progress

    assert main(["-q", "report", str(tmp_path / "none")]) == 2 and progress._BARS_OFF is True
    assert main(["report", str(tmp_path / "none")]) == 2 and progress._BARS_OFF is None


def test_extraction_progress_in_a_log_is_a_line_a_minute(capsys):
    from evoprune_deap.cli.progress import LineProgress

    now = [0.0]
    progress = LineProgress("extracting features", "images embedded", rate=True, clock=lambda: now[0])
    for seconds in (10, 30, 59, 70, 100, 131, 150):
        now[0] = seconds
        progress.update(100)
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines == [  # at 10 s, then 70 s (60 after the last line), then 131 s, then the last on close
        "evoprune: extracting features: 100 images embedded (10/s)",
        "evoprune: extracting features: 400 images embedded (6/s)",
        "evoprune: extracting features: 600 images embedded (5/s)",
        "evoprune: extracting features: 700 images embedded (5/s)",
    ]
    progress.close()  # nothing new since the last line: nothing printed
    assert capsys.readouterr().err == ""
    search = LineProgress("evolve", "evaluations", total=40, clock=lambda: now[0])
    search.set_postfix(best="0.7746", active="41.2%")
    search.update(1)
    assert capsys.readouterr().err == "evoprune: evolve: 1/40 evaluations, best 0.7746, active 41.2%\n"


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "does not exist"),
        ("empty", "holds no images"),
        ("single", "only one class"),
        ("unreadable", "Cannot read image"),
    ],
)
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, case, message, refused):
    folder = str(tmp_path / "data")
    if case != "missing":
        write_digits_folder(folder, n_per_class=4, classes=(3,) if case == "single" else (0, 1))
    if case == "empty":
        os.makedirs(os.path.join(folder, "zzz"))
    if case == "unreadable":
        with open(os.path.join(folder, "digit0", "bad.jpg"), "wb") as stream:
            stream.write(b"not an image")
    argv = ["extract", "--images", folder, "--image-size", "32", "--out", str(tmp_path / "x.npz")]
    refused(argv, message, tmp_path)  # no x.npz, nothing else written


def test_debug_shows_traceback(tmp_path):
    result = evoprune("--debug", "extract", "--images", str(tmp_path / "missing"))
    assert result.returncode != 0 and "Traceback" in result.stderr


@pytest.mark.slow
def test_run_from_features_with_toml_config(faces_features, faces_cache, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(
        "[ga]\npopulation = 4\nevaluations = 5\n[head]\nhidden_units = [16, 8]\nmax_epochs = 2\n"
        "[run]\nworkers = 1\n"
    )
    result = evoprune(
        "run",
        "--features",
        faces_cache,
        "--config",
        str(config),
        "--seed",
        "3",
        "--out",
        str(tmp_path / "runs"),
    )
    assert result.returncode == 0, result.stderr
    assert "best head:" in result.stdout and "5 evaluations" in result.stdout
    (run_dir,) = os.listdir(tmp_path / "runs")
    assert "_fc1_seed3_" in run_dir  # and what differs from the preset (issue 32)
    assert os.path.isfile(tmp_path / "runs" / run_dir / "summary.json")


def test_run_rejects_unknown_toml_key(tmp_path, refused):
    config = tmp_path / "bad.toml"
    config.write_text("[ga]\npopsize = 4\n")
    refused(["run", "--config", str(config)], "Unknown key `popsize` in [ga]; valid keys:", tmp_path)


def test_run_rejects_out_of_range_values(tmp_path, refused, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --out, runs/, would be made here
    refused(["run", "--population", "3"], "population=3", tmp_path)


def test_run_extracts_an_image_folder_on_demand(tmp_path):
    folder = write_digits_folder(tmp_path / "digits", n_per_class=10)
    result = evoprune(
        "run",
        "--images",
        folder,
        "--image-size",
        "32",
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
        "--out",
        str(tmp_path / "runs"),
        cwd=str(tmp_path),
        env_extra={"EVOPRUNE_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert result.returncode == 0, result.stderr
    assert (
        "best head:" in result.stdout and "/16 active" in result.stdout
    )  # --hidden-units 16 reached the head
    assert os.listdir(tmp_path / "cache" / "features")
    # extraction (TensorFlow backbone) and saving the head (Keras imports TensorFlow): no start-up noise
    assert not [line for line in result.stderr.splitlines() if any(word in line for word in NATIVE_NOISE)], (
        result.stderr
    )
    assert result.stderr.splitlines() == [
        line for line in result.stderr.splitlines() if line.startswith("evoprune")
    ]
    # stderr is a pipe, as in a log: the search says where it is in a line, not a bar or nothing
    assert "evoprune: evolve: 1/4 evaluations, best 0." in result.stderr, result.stderr
