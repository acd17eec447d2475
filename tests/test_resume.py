"""Crash safety: kills at any moment, torn lines, locks, Ctrl-C and a full disk."""

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from evoprune_deap.errors import RunDirectoryError
from evoprune_deap.records import evaluation_log
from evoprune_deap.records.directory import RunDirectory, RunLock
from evoprune_deap.records.evaluation_log import read_log
from evoprune_deap.run.evolution import evolve
from evoprune_deap.search.evaluator import one_by_one

TOY = os.path.join(os.path.dirname(__file__), "toy_run.py")
sys.path.insert(0, os.path.dirname(__file__))
import toy_run  # noqa: E402

pytestmark = pytest.mark.slow  # real runs killed and resumed in subprocesses

toy_run.DELAY = 0.0


def toy(run_dir, resume=False, delay=0.0, **popen):
    return subprocess.Popen(
        [sys.executable, TOY, str(run_dir), "1" if resume else "0", str(delay)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("full")
    out, err = toy(run_dir).communicate(timeout=120)
    assert err == "" or "Traceback" not in err
    best, calls = out.split()
    assert calls == "calls=40"
    return (run_dir / "evaluations.csv").read_bytes(), best


def _rows(path):
    return path.read_bytes().count(b"\n") - 1


@pytest.mark.parametrize("kill_after_rows", [1, 5, 12, 25, 37])
def test_sigkill_at_any_moment_then_resume_gives_the_uninterrupted_run(
    uninterrupted, tmp_path, kill_after_rows
):
    process = toy(tmp_path, delay=0.08)
    log = tmp_path / "evaluations.csv"
    _wait_rows(log, kill_after_rows, timeout=60)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _rows(log)
    assert kill_after_rows <= done < 40  # killed mid-run, with finished evaluations on disk
    # a kill between the journal's row and the log's leaves one more finished evaluation in the journal
    journaled = len(read_log(str(tmp_path / "finished.csv")))
    assert done <= journaled <= done + 1
    out, err = toy(tmp_path, resume=True).communicate(timeout=120)
    assert "Traceback" not in err, err
    best, calls = out.split()
    assert calls == f"calls={40 - journaled}"  # every finished evaluation was replayed, not recomputed
    assert log.read_bytes() == uninterrupted[0]
    assert best == uninterrupted[1]


@pytest.mark.parametrize("cut", [1, 7, 30, 55])
def test_torn_last_line_is_dropped_and_recomputed(uninterrupted, tmp_path, cut):
    full = uninterrupted[0]
    lines = full.split(b"\n")
    head = b"\n".join(lines[:13]) + b"\n"  # header + 12 rows
    torn = lines[13][:cut]  # a row killed mid-write
    (tmp_path / "evaluations.csv").write_bytes(head + torn)
    rows = read_log(str(tmp_path / "evaluations.csv"))
    assert len(rows) == 12
    assert (tmp_path / "evaluations.csv").read_bytes() == head
    out, _ = toy(tmp_path, resume=True).communicate(timeout=120)
    assert (tmp_path / "evaluations.csv").read_bytes() == full


def test_edited_middle_row_is_an_error(uninterrupted, tmp_path):
    lines = uninterrupted[0].split(b"\n")
    lines[5] = b"garbage"
    (tmp_path / "evaluations.csv").write_bytes(b"\n".join(lines))
    with pytest.raises(RunDirectoryError, match="line 6 is damaged"):
        read_log(str(tmp_path / "evaluations.csv"))


def test_second_process_on_the_same_run_is_refused(tmp_path):
    with RunLock(str(tmp_path)):
        process = toy(tmp_path)
        _, err = process.communicate(timeout=60)
        assert process.returncode != 0 and "in use by another process" in err
    # The lock dies with its owner: a killed holder does not block the next run.
    holder = toy(tmp_path, delay=1.0)
    deadline = time.time() + 60
    while (tmp_path / RunDirectory.LOCK).read_text() != str(holder.pid):  # the holder has the lock
        assert time.time() < deadline and holder.poll() is None
        time.sleep(0.05)
    with pytest.raises(RunDirectoryError, match="in use"):
        RunLock(str(tmp_path))
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with RunLock(str(tmp_path)):
        pass


def test_disk_full_leaves_the_run_resumable(uninterrupted, tmp_path, monkeypatch):
    real_fsync, calls = os.fsync, []

    def failing_fsync(fd):
        calls.append(fd)
        if len(calls) > 15:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(evaluation_log.os, "fsync", failing_fsync)
    with pytest.raises(RunDirectoryError, match="Disk full.*--resume"):
        evolve(one_by_one(toy_run.fitness), 32, toy_run.GA, seed=7, run_dir=RunDirectory(tmp_path))
    monkeypatch.setattr(evaluation_log.os, "fsync", real_fsync)
    evolve(one_by_one(toy_run.fitness), 32, toy_run.GA, seed=7, run_dir=RunDirectory(tmp_path), resume=True)
    assert (tmp_path / "evaluations.csv").read_bytes() == uninterrupted[0]


def _evoprune(*args, **popen):
    return subprocess.Popen(
        [sys.executable, "-m", "evoprune_deap", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _wait_rows(path, n, timeout=240):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and _rows(path) >= n:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} never reached {n} rows")


REAL = ["--population", "4", "--evaluations", "8", "--max-epochs", "3", "--workers", "1", "--seed", "2"]


@pytest.fixture(scope="module")
def real_uninterrupted(faces_features, faces_cache, tmp_path_factory):
    """The reference, in this process: the killed and resumed runs are other processes."""
    from evoprune_deap.cli import main

    run_dir = tmp_path_factory.mktemp("real") / "run"
    assert main(["-q", "run", "--features", faces_cache, *REAL, "--run-dir", str(run_dir)]) == 0
    return run_dir


def _compare(run_dir, reference):
    columns = ["evaluation", "mask_hash", "n_active", "fitness", "val_accuracy", "epochs", "mask"]
    got = pd.read_csv(run_dir / "evaluations.csv")[columns]
    want = pd.read_csv(reference / "evaluations.csv")[columns]
    pd.testing.assert_frame_equal(got, want)
    assert (run_dir / "best_mask.json").read_text() == (reference / "best_mask.json").read_text()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_real_run_killed_then_resumed_equals_uninterrupted(
    real_uninterrupted, faces_cache, tmp_path, workers
):
    """Also the same-seed promise: every row is computed in two processes (the killed one or its resume, and
    the uninterrupted one), which give the same files on this CPU. The run killed on 2 workers resumes on 1:
    where heads train never changes them."""
    run_dir = tmp_path / "run"
    options = [*REAL[: REAL.index("--workers") + 1], workers, *REAL[REAL.index("--workers") + 2 :]]
    process = _evoprune("run", "--features", faces_cache, *options, "--run-dir", str(run_dir))
    _wait_rows(run_dir / "evaluations.csv", 3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / RunDirectory.SUMMARY).exists()  # the run was interrupted...
    assert 3 <= _rows(run_dir / "evaluations.csv") < 8  # ...with finished evaluations on disk
    resumed = _evoprune("run", "--resume", str(run_dir), "--workers", "1")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    _compare(run_dir, real_uninterrupted)
    assert np.isfinite(pd.read_csv(run_dir / "evaluations.csv")["fitness"]).all()


def test_ctrl_c_stops_after_the_current_evaluation_and_says_how_to_resume(
    real_uninterrupted, faces_cache, tmp_path
):
    run_dir = tmp_path / "run"
    process = _evoprune("run", "--features", faces_cache, *REAL, "--run-dir", str(run_dir))
    _wait_rows(run_dir / "evaluations.csv", 2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130
    assert f"--resume {run_dir}" in err and "Traceback" not in err
    rows = read_log(str(run_dir / "evaluations.csv"))
    assert 2 <= len(rows) < 8
    journaled = len(pd.read_csv(run_dir / "finished.csv"))  # what the stopped process trained
    resumed = _evoprune("run", "--resume", str(run_dir))
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0
    _compare(run_dir, real_uninterrupted)
    assert f"; {journaled} trained by an earlier process)" in out  # its wall time is the resume's only


class OutOfOrder:
    """In-process stand-in for ClusterFitness: every submitted mask finishes, last submitted first."""

    def __init__(self, fitness):
        self.fitness = fitness

    def evaluate_many(self, masks, on_result=None):
        results = [self.fitness(mask) for mask in masks]
        for mask, result in reversed(list(zip(masks, results))):
            on_result(mask, result)
        return iter(results)


class Crash(Exception):
    pass


class CrashAt:
    def __init__(self, number):
        self.number = number

    def on_start(self, state):
        pass

    def on_evaluation(self, evaluation, state):
        if evaluation.index + 1 == self.number and not evaluation.replayed:
            raise Crash

    def on_end(self, state):
        pass


def test_results_finished_out_of_order_survive_a_crash(uninterrupted, tmp_path):
    """A crash after 2 logged evaluations keeps the other finished ones: the rest of the initial
    population and the first pair, which is bred from the initial genomes and in flight with them."""
    with pytest.raises(Crash):
        evolve(
            OutOfOrder(toy_run.fitness),
            32,
            toy_run.GA,
            seed=7,
            run_dir=RunDirectory(tmp_path),
            callbacks=[CrashAt(2)],
        )
    finished = toy_run.GA.population + 2
    assert _rows(tmp_path / "evaluations.csv") == 2
    assert _rows(tmp_path / "finished.csv") == finished
    calls = []

    def counted(mask):
        calls.append(mask)
        return toy_run.fitness(mask)

    state = evolve(OutOfOrder(counted), 32, toy_run.GA, seed=7, run_dir=RunDirectory(tmp_path), resume=True)
    assert sum(e.replayed for e in state.history) == finished
    assert len(calls) == toy_run.GA.evaluations - finished
    assert (tmp_path / "evaluations.csv").read_bytes() == uninterrupted[0]


def test_a_second_ctrl_c_stops_at_once(faces_cache, faces_features, tmp_path):
    run_dir = tmp_path / "run"
    (tmp_path / "slow.toml").write_text("[head]\nmax_epochs = 100000\npatience = 100000\nmin_delta = 0.0\n")
    slow = [
        "--config",
        str(tmp_path / "slow.toml"),
        "--population",
        "4",
        "--evaluations",
        "8",
        "--workers",
        "1",
        "--features",
        faces_cache,
        "--run-dir",
        str(run_dir),
    ]
    process = _evoprune("run", *slow)
    deadline = time.time() + 240
    while not (run_dir / "evaluations.csv").exists():  # the GA has started: a head is training
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.1)
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    start = time.perf_counter()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "--resume" in err
    assert time.perf_counter() - start < 20  # not the 100000 epochs the head was going to train


def test_resume_after_the_images_changed_is_refused_before_the_cache_is_touched(
    digits_folder, tmp_path, refused
):
    """The run's cache stays the one it started from: the changed images are neither extracted nor cached."""
    import hashlib
    import json

    from evoprune_deap.cli import main

    run_dir = str(tmp_path / "run")
    assert (
        main(
            [
                "-q",
                "run",
                "--images",
                digits_folder,
                "--image-size",
                "32",
                "--population",
                "4",
                "--evaluations",
                "4",
                "--max-epochs",
                "2",
                "--workers",
                "1",
                "--run-dir",
                run_dir,
            ]
        )
        == 0
    )
    os.remove(os.path.join(run_dir, RunDirectory.SUMMARY))  # an unfinished run: resumable
    cache = json.load(open(os.path.join(run_dir, RunDirectory.ENVIRONMENT)))["features"]["cache_path"]
    before = (hashlib.sha256(open(cache, "rb").read()).hexdigest(), os.stat(cache).st_mtime_ns)
    extra = os.path.join(digits_folder, "digit0", "0.png")
    os.replace(extra, os.path.join(digits_folder, "digit1", "moved.png"))  # one image changes class
    line = refused(["run", "--resume", run_dir], "differ from those the run started with", run_dir)
    assert "source_fingerprint" in line and cache in line
    assert (hashlib.sha256(open(cache, "rb").read()).hexdigest(), os.stat(cache).st_mtime_ns) == before
