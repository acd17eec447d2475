import os
import subprocess
import sys

import pytest

from conftest import write_digits_folder


def evoprune(*args, cwd=None):
    env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "jax"))
    return subprocess.run([sys.executable, "-m", "evoprune_deap", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=600)


def test_extract_then_reuse(tmp_path):
    folder = write_digits_folder(tmp_path / "digits", n_per_class=10)
    out = str(tmp_path / "digits.npz")
    first = evoprune("extract", "--images", folder, "--image-size", "32", "--out", out)
    assert first.returncode == 0, first.stderr
    assert "extracted" in first.stdout and "30 images x 1280 features, 3 classes" in first.stdout
    second = evoprune("extract", "--images", folder, "--image-size", "32", "--out", out)
    assert second.returncode == 0 and "reused cache" in second.stdout


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"),
    ("empty", "holds no images"),
    ("single", "only one class"),
    ("unreadable", "Cannot read image"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, case, message):
    folder = str(tmp_path / "data")
    if case != "missing":
        write_digits_folder(folder, n_per_class=4, classes=(3,) if case == "single" else (0, 1))
    if case == "empty":
        os.makedirs(os.path.join(folder, "zzz"))
    if case == "unreadable":
        with open(os.path.join(folder, "digit0", "bad.jpg"), "wb") as stream:
            stream.write(b"not an image")
    result = evoprune("extract", "--images", folder, "--image-size", "32", "--out", str(tmp_path / "x.npz"))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("evoprune: error:")]
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.stderr
    assert not os.path.exists(tmp_path / "x.npz")


def test_debug_shows_traceback(tmp_path):
    result = evoprune("--debug", "extract", "--images", str(tmp_path / "missing"))
    assert result.returncode != 0 and "Traceback" in result.stderr
