"""benchmarks/gpu_check.sh refuses what it cannot do before any work (its --dry-run is run by hand)."""

import os
import shutil
import subprocess

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "gpu_check.sh")


def _run(*args, env=None):
    return subprocess.run(["bash", SCRIPT, *args], capture_output=True, text=True, env=env, timeout=60)


def test_an_unknown_argument_is_one_line_and_exit_2(tmp_path):
    done = _run("--dryrun", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gpu_check.sh: error: unknown argument '--dryrun'; see --help"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine has a GPU")
def test_without_a_gpu_it_asks_for_dry_run_and_writes_nothing(tmp_path):
    done = _run("--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "--dry-run" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_a_finished_check_is_not_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text("{}")
    done = _run("--dry-run", "--out", str(tmp_path))
    assert done.returncode == 2 and "already holds a finished check" in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["run"]
