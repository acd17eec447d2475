"""Issue 14: TensorBoard tracking and quiet output of a run."""

import json
import os

import numpy as np
import pandas as pd
import pytest

from evoprune_deap.cli import main
from evoprune_deap.search.callbacks import Callback


def _scalars(logdir):
    """``{tag: {step: value}}``, after checking that no step of any tag was written twice."""
    from evoprune_deap.run.tracking import read_scalars

    scalars = read_scalars(logdir)
    for tag, points in scalars.items():
        steps = [step for step, _ in points]
        assert len(steps) == len(set(steps)), (tag, steps)
    return {tag: dict(points) for tag, points in scalars.items()}


class _Crash(Callback):
    """Raise after ``after`` evaluations: a run that died mid-search."""

    def __init__(self, after):
        self.after = after

    def on_evaluation(self, evaluation, state):
        if evaluation.index + 1 == self.after:
            raise RuntimeError("crash")


def test_read_scalars_keeps_duplicate_steps(tmp_path):
    import tensorflow as tf

    from evoprune_deap.run.tracking import read_scalars

    for value in (1.0, 2.0):  # two writers on one folder, both at step 1: what a careless resume would leave
        writer = tf.summary.create_file_writer(str(tmp_path))
        with writer.as_default():
            tf.summary.scalar("evaluation/fitness", value, step=1)
        writer.close()
    assert sorted(read_scalars(str(tmp_path))["evaluation/fitness"]) == [(1, 1.0), (1, 2.0)]


def test_tensorboard_logs_every_evaluation_of_the_run(faces_cache, faces_features, tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text("[ga]\npopulation = 4\nevaluations = 6\n[head]\nhidden_units = [16]\nmax_epochs = 2\n")
    logdir = tmp_path / "tb"
    code = main(
        [
            "-q",
            "run",
            "--features",
            faces_cache,
            "--config",
            str(config),
            "--workers",
            "1",
            "--out",
            str(tmp_path / "runs"),
            "--tensorboard",
            str(logdir),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""  # -q: no bar, no notice
    assert "best head:" in captured.out
    (run_name,) = os.listdir(tmp_path / "runs")
    assert os.listdir(logdir) == [run_name]
    scalars = _scalars(str(logdir))
    table = pd.read_csv(tmp_path / "runs" / run_name / "evaluations.csv")
    assert list(scalars["evaluation/fitness"]) == list(range(1, 7))
    np.testing.assert_allclose(
        [scalars["evaluation/fitness"][k] for k in range(1, 7)], table["fitness"], rtol=1e-6
    )
    np.testing.assert_allclose(
        [scalars["best/fitness"][k] for k in range(1, 7)], np.maximum.accumulate(table["fitness"]), rtol=1e-6
    )
    np.testing.assert_allclose(
        [scalars["evaluation/active_percent"][k] for k in range(1, 7)], table["active_percent"], rtol=1e-5
    )


def test_tensorboard_logs_the_front_of_a_multiobjective_run(faces_cache, faces_features, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(
        "[ga]\npopulation = 4\nevaluations = 6\nobjectives = ['accuracy', 'active']\n"
        "[head]\nhidden_units = [16]\nmax_epochs = 2\n"
    )
    logdir = tmp_path / "tb"
    assert (
        main(
            [
                "-q",
                "run",
                "--features",
                faces_cache,
                "--config",
                str(config),
                "--workers",
                "1",
                "--run-dir",
                str(tmp_path / "run"),
                "--tensorboard",
                str(logdir),
            ]
        )
        == 0
    )
    scalars = _scalars(str(logdir))
    logbook = json.loads((tmp_path / "run" / "logbook.json").read_text())
    np.testing.assert_allclose(
        [scalars["front/hypervolume"][k] for k in range(1, 7)],
        [row["hypervolume"] for row in logbook],
        rtol=1e-6,
    )
    assert [scalars["front/size"][k] for k in range(1, 7)] == [row["front_size"] for row in logbook]
    assert "best/fitness" not in scalars


def test_tensorboard_after_a_crash_and_resume_holds_each_evaluation_once(
    faces_cache, faces_features, tmp_path
):
    from evoprune_deap.config import load_config
    from evoprune_deap.run.experiment import run_experiment
    from evoprune_deap.run.tracking import TensorBoardLogger, logged_steps

    tiny = {
        "data": {"features": faces_cache},
        "ga": {"population": 4, "evaluations": 7},
        "head": {"hidden_units": [16], "max_epochs": 2},
        "run": {"workers": 1},
    }
    run_dir, logdir = tmp_path / "run", tmp_path / "tb"
    with pytest.raises(RuntimeError, match="crash"):
        run_experiment(
            load_config(overrides=tiny),
            faces_features,
            run_dir=str(run_dir),
            callbacks=[TensorBoardLogger(str(logdir / "run")), _Crash(after=5)],
        )
    assert logged_steps(str(logdir / "run")) == {1, 2, 3, 4, 5}  # flushed as written: the crash lost none
    assert main(["-q", "run", "--resume", str(run_dir), "--tensorboard", str(logdir)]) == 0
    scalars = _scalars(str(logdir))  # no step twice, though steps 1-5 were replayed
    table = pd.read_csv(run_dir / "evaluations.csv")
    assert list(scalars["evaluation/fitness"]) == list(range(1, 8)) == list(table["evaluation"])
    np.testing.assert_allclose(list(scalars["evaluation/fitness"].values()), table["fitness"], rtol=1e-6)
    np.testing.assert_allclose(
        list(scalars["best/fitness"].values()), np.maximum.accumulate(table["fitness"]), rtol=1e-6
    )


def test_the_convergence_plot_marks_the_unpruned_head():
    import pandas as pd

    from evoprune_deap.report.plots import UNPRUNED_LABEL, plot_convergence

    table = pd.DataFrame({"evaluation": [1, 2, 3], "fitness": [0.5, 0.7, 0.6]})
    ax = plot_convergence(table, unpruned=0.65)
    handles, labels = ax.get_legend_handles_labels()
    assert UNPRUNED_LABEL in labels
    line = handles[labels.index(UNPRUNED_LABEL)]
    assert set(line.get_ydata()) == {0.65}


def test_report_and_plot_write_beside_the_runs_not_where_the_user_stands(tmp_path, monkeypatch):
    from test_reporting import _fake_run

    rng = np.random.default_rng(0)
    for seed in range(2):
        _fake_run(str(tmp_path / "campaign"), "fc1", seed, rng)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["-q", "report", str(tmp_path / "campaign")]) == 0
    assert os.path.isfile(tmp_path / "campaign" / "report" / "method_table.md")
    assert os.listdir(elsewhere) == []
