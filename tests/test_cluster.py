"""Dask: a real scheduler and workers on 127.0.0.1, a worker killed mid-run, errors that name the mask."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import toy_run  # noqa: E402

from evoprune_deap.config import GAConfig  # noqa: E402
from evoprune_deap.errors import EvopruneError  # noqa: E402
from evoprune_deap.evaluation.cluster import ClusterFitness  # noqa: E402
from evoprune_deap.records.directory import RunDirectory  # noqa: E402
from evoprune_deap.run.evolution import evolve  # noqa: E402
from evoprune_deap.search.bits import mask_key  # noqa: E402
from evoprune_deap.search.callbacks import Callback  # noqa: E402
from evoprune_deap.search.evaluator import one_by_one  # noqa: E402

pytestmark = pytest.mark.slow  # Dask clusters started and killed

GA = GAConfig(population=6, evaluations=40, in_flight=2)
PAYLOAD = np.arange(1000)


def _dask(*args, env=None):
    return subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "dask"), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, stopped by pid at the end."""
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = str(folder / "scheduler.json")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(__file__), os.environ.get("PYTHONPATH", "")])
    )
    processes = [
        _dask(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            scheduler_file,
            env=env,
        )
    ]
    deadline = time.time() + 60
    while not os.path.exists(scheduler_file):
        assert time.time() < deadline, "the scheduler did not start"
        time.sleep(0.1)
    workers = [
        _dask(
            "worker",
            "--scheduler-file",
            scheduler_file,
            "--nthreads",
            "1",
            "--no-nanny",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
            "--name",
            f"w{i}",
            env=env,
        )
        for i in range(2)
    ]
    processes += workers
    client = Client(scheduler_file=scheduler_file, timeout="60s")
    try:
        yield client, workers
    finally:
        client.close()
        for process in reversed(
            processes
        ):  # workers first: a worker whose scheduler went first waits to reconnect
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class KillAt(Callback):
    """From evaluation ``number`` on, SIGKILL a worker as soon as the scheduler shows it running a task.

    The watch runs in its own thread, so the GA goes on submitting while it waits (a callback that waited
    would hold the GA, and the worker could go idle for good). ``busy`` is what the worker was running;
    ``killed_after`` how many evaluations had finished then.
    """

    def __init__(self, number, process, client, name):
        self.number, self.process, self.client, self.name = number, process, client, name
        self.busy, self.finished, self.killed_after, self.watch = [], 0, None, None

    def on_evaluation(self, evaluation, state):
        self.finished += 1
        if evaluation.index + 1 == self.number:
            self.watch = threading.Thread(target=self._kill_when_busy, daemon=True)
            self.watch.start()

    def _kill_when_busy(self):
        address = next(
            a for a, w in self.client.scheduler_info()["workers"].items() if w["name"] == self.name
        )
        deadline = time.time() + 30
        while not self.busy and time.time() < deadline:
            self.busy = list(self.client.processing([address]).get(address, ()))
            time.sleep(0.002) if not self.busy else None
        if self.busy:
            self.process.send_signal(signal.SIGKILL)
            self.killed_after = self.finished


def test_a_fitness_that_raises_names_the_mask(cluster, tmp_path):
    client, _ = cluster
    fitness = ClusterFitness(client, PAYLOAD, toy_run.ToyFactory(fail_on=3))
    mask = np.zeros(32, dtype=bool)
    mask[:3] = True
    with pytest.raises(EvopruneError, match=r"mask [0-9a-f]{16} \(3 active of 32\).*boom at 3 active bits"):
        fitness(mask)
    assert fitness(np.ones(32, dtype=bool)) == pytest.approx(0.75)
    # the journal hears of the failure too: the exception, for that mask
    heard = []
    with pytest.raises(EvopruneError, match="boom"):
        list(
            fitness.evaluate_many(
                [np.ones(32, dtype=bool), mask], on_result=lambda m, r: heard.append((m, r))
            )
        )
    failed = [r for m, r in heard if int(m.sum()) == 3]
    assert len(failed) == 1 and isinstance(failed[0], ValueError) and "boom at 3" in str(failed[0])


def test_a_failed_evaluation_is_journaled_with_its_exception_and_never_replayed(tmp_path):
    from evoprune_deap.records.evaluation_log import (
        FinishedJournal,
        columns_for,
        journal_columns,
        known_results,
        read_log,
    )

    path = str(tmp_path / "finished.csv")
    journal = FinishedJournal(path, 0, journal_columns(columns_for()))
    good, bad = np.ones(32, dtype=bool), np.zeros(32, dtype=bool)
    bad[:3] = True
    journal(
        good,
        (
            0.75,
            {
                "val_accuracy": 0.75,
                "epochs": 3,
                "seconds": 0.1,
                "worker": "tcp://127.0.0.1:1",
                "pid": 42,
                "started": 10.0,
                "ended": 10.5,
            },
        ),
    )
    journal(bad, ValueError("boom at 3 active bits"))
    journal.close()
    rows = read_log(path)
    assert [row["worker"] for row in rows] == ["tcp://127.0.0.1:1", ""] and rows[0]["pid"] == "42"
    assert rows[1]["error"] == "ValueError: boom at 3 active bits" and np.isnan(rows[1]["fitness"])
    assert list(known_results(rows)) == [mask_key(good)]

    # a resume from such a journal replays the good result and trains the failed mask again
    whole = RunDirectory(tmp_path / "whole")
    os.makedirs(whole.path)
    want = evolve(one_by_one(toy_run.fitness), 32, toy_run.GA, seed=7, run_dir=whole)
    order = [row["mask"] for row in read_log(whole.file(RunDirectory.EVALUATIONS))]
    resumed = RunDirectory(tmp_path / "resumed")
    os.makedirs(resumed.path)
    journal = FinishedJournal(resumed.file(RunDirectory.JOURNAL), 0, journal_columns(columns_for()))
    journal(order[0], (toy_run.fitness(order[0]) + 1.0, {}))  # a result no training gives: replayed
    journal(order[1], ValueError("boom"))
    journal.close()
    trained = []
    counting = lambda mask: trained.append(mask_key(mask)) or toy_run.fitness(mask)  # noqa: E731
    got = evolve(one_by_one(counting), 32, toy_run.GA, seed=7, run_dir=resumed, resume=True)
    log = read_log(resumed.file(RunDirectory.EVALUATIONS))
    assert mask_key(order[0]) not in trained and log[0]["fitness"] == toy_run.fitness(order[0]) + 1.0
    assert mask_key(order[1]) in trained and log[1]["fitness"] == toy_run.fitness(order[1])
    assert got.n_evaluations == want.n_evaluations == len(log)


def test_batched_evaluation_on_a_cluster_keeps_the_order_and_journals_every_mask(cluster, monkeypatch):
    client, _ = cluster
    assert len(client.scheduler_info()["workers"]) == 2  # both alive: the kill test runs last
    masks = [np.random.default_rng(i).random(32) < 0.5 for i in range(7)]
    fitness = ClusterFitness(client, PAYLOAD, toy_run.ToyFactory(), heads_per_task=8)
    submitted, submit = [], client.submit
    monkeypatch.setattr(
        client,
        "submit",
        lambda task, *args, **kw: submitted.append(len(args[3])) or submit(task, *args, **kw),
    )
    journal = []
    got = list(fitness.evaluate_many(masks, on_result=lambda mask, result: journal.append(result)))
    serial = toy_run.ToyFactory()(PAYLOAD)
    assert got == [serial(mask) for mask in masks]
    deadline = time.time() + 30  # the journal is written from Dask's callback thread, maybe a moment later
    while len(journal) < len(masks) and time.time() < deadline:
        time.sleep(0.05)
    assert sorted(journal) == sorted(got)
    assert submitted == [4, 3]  # one task per worker (8 would fit one task), in order


def test_scores_on_a_cluster_come_back_in_order(cluster):
    client, _ = cluster
    masks = [np.random.default_rng(i).random(32) < 0.5 for i in range(6)]
    fitness = ClusterFitness(client, PAYLOAD, toy_run.ToyFactory(delay=0.05))
    serial = toy_run.ToyFactory()(PAYLOAD)
    assert fitness.score_many(masks, with_test=True) == [(serial(mask), True) for mask in masks]
    assert fitness.score(masks[0], with_test=False) == (serial(masks[0]), False)


def _deaf_pid():
    return os.getpid(), [signal.getsignal(n) == signal.SIG_IGN for n in (signal.SIGINT, signal.SIGTERM)]


def test_the_local_cluster_listens_on_loopback_only_and_its_workers_outlive_the_run_s_signals():
    """Ctrl-C or a job scheduler's SIGTERM reach the whole process group: a local worker keeps training the
    evaluation in progress (the run closes the cluster itself), and so does one the nanny restarts."""
    from evoprune_deap.evaluation.cluster import open_client

    with open_client(None, 1) as client:
        info = client.scheduler_info()
        addresses = [info["address"], *info["workers"]]
        assert len(addresses) == 2 and all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
        (pid, deaf), *_ = client.run(_deaf_pid).values()
        assert deaf == [True, True]
        for number in (signal.SIGINT, signal.SIGTERM):
            os.kill(pid, number)
        time.sleep(1.0)
        assert [p for p, _ in client.run(_deaf_pid).values()] == [pid]  # the same process, still serving
        client.restart()
        (restarted, deaf), *_ = client.run(_deaf_pid).values()
        assert restarted != pid and deaf == [True, True]


def test_the_real_fitness_trains_on_the_workers_of_a_scheduler_and_equals_a_run_here(
    cluster, faces_cache, faces_features, tmp_path
):
    """README: `evoprune run --scheduler ADDRESS` with the real fitness: heads train in the cluster's own
    `dask worker` processes, and the run is the one trained in this process."""
    import pandas as pd

    from evoprune_deap.cli import main

    client, _ = cluster
    client.wait_for_workers(2, timeout=60)
    tiny = [
        "-q",
        "run",
        "--features",
        faces_cache,
        "--population",
        "4",
        "--evaluations",
        "6",
        "--max-epochs",
        "2",
        "--hidden-units",
        "16",
        "--seed",
        "5",
    ]
    assert main([*tiny, "--workers", "1", "--run-dir", str(tmp_path / "here")]) == 0
    address = client.scheduler_info()["address"]
    assert main([*tiny, "--scheduler", address, "--run-dir", str(tmp_path / "there")]) == 0
    columns = ["mask_hash", "fitness", "val_accuracy", "epochs"]
    here, there = (pd.read_csv(tmp_path / d / RunDirectory.EVALUATIONS)[columns] for d in ("here", "there"))
    pd.testing.assert_frame_equal(there, here)
    finished = pd.read_csv(tmp_path / "there" / RunDirectory.JOURNAL)
    assert set(finished["worker"]) <= set(client.scheduler_info()["workers"]) and os.getpid() not in set(
        finished["pid"]
    ), finished[["worker", "pid"]]


def test_a_worker_killed_mid_run_changes_nothing(cluster, tmp_path):
    """Last of the cluster tests: it kills one of the two workers."""
    client, workers = cluster
    client.wait_for_workers(2, timeout=60)
    serial = RunDirectory(tmp_path / "serial")
    os.makedirs(serial.path)
    want = evolve(one_by_one(toy_run.fitness), 32, GA, seed=7, run_dir=serial)

    run_dir = RunDirectory(tmp_path / "cluster")
    os.makedirs(run_dir.path)
    fitness = ClusterFitness(client, PAYLOAD, toy_run.ToyFactory(delay=0.1))
    kill = KillAt(12, workers[1], client, "w1")
    got = evolve(fitness, 32, GA, seed=7, run_dir=run_dir, callbacks=[kill])
    kill.watch.join(timeout=30)
    assert kill.busy, "the worker never ran a task after evaluation 12"
    assert (
        workers[1].wait(timeout=10) == -signal.SIGKILL
    )  # it died while running a task, which went to the other...
    assert kill.killed_after < GA.evaluations, kill.killed_after  # ...mid-run, with evaluations still to come
    assert len(client.scheduler_info()["workers"]) == 1
    # ...and the run is the serial one, byte for byte.
    with (
        open(run_dir.file(RunDirectory.EVALUATIONS), "rb") as a,
        open(serial.file(RunDirectory.EVALUATIONS), "rb") as b,
    ):
        assert a.read() == b.read()
    assert np.array_equal(got.best.mask, want.best.mask)
    assert os.path.getsize(run_dir.file(RunDirectory.JOURNAL)) > 0  # results journaled as they finished
