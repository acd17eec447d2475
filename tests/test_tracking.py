"""Issue 14: TensorBoard tracking and quiet output of a run."""

import glob
import json
import os

import numpy as np

from evoprune_deap.cli import main


def _scalars(logdir):
    import tensorflow as tf

    values = {}
    for path in glob.glob(os.path.join(logdir, "**", "events.out.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    return values


def test_tensorboard_logs_every_evaluation_of_the_run(faces_cache, faces_features, tmp_path, capsys):
    config = tmp_path / "tiny.toml"
    config.write_text("[ga]\npopulation = 4\nevaluations = 6\n[head]\nhidden_units = [16]\nmax_epochs = 2\n")
    logdir = tmp_path / "tb"
    code = main(["-q", "run", "--features", faces_cache, "--config", str(config), "--workers", "1",
                 "--out", str(tmp_path / "runs"), "--tensorboard", str(logdir)])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""  # -q: no bar, no notice
    assert "best head:" in captured.out
    (run_name,) = os.listdir(tmp_path / "runs")
    assert os.listdir(logdir) == [run_name]
    scalars = _scalars(str(logdir))
    import pandas as pd

    table = pd.read_csv(tmp_path / "runs" / run_name / "evaluations.csv")
    assert sorted(scalars["evaluation/fitness"]) == list(range(1, 7))
    np.testing.assert_allclose([scalars["evaluation/fitness"][k] for k in range(1, 7)], table["fitness"], rtol=1e-6)
    np.testing.assert_allclose([scalars["best/fitness"][k] for k in range(1, 7)],
                               np.maximum.accumulate(table["fitness"]), rtol=1e-6)
    np.testing.assert_allclose([scalars["evaluation/active_percent"][k] for k in range(1, 7)],
                               table["active_percent"], rtol=1e-5)


def test_tensorboard_logs_the_front_of_a_multiobjective_run(faces_cache, faces_features, tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text("[ga]\npopulation = 4\nevaluations = 6\nobjectives = ['accuracy', 'active']\n"
                      "[head]\nhidden_units = [16]\nmax_epochs = 2\n")
    logdir = tmp_path / "tb"
    assert main(["-q", "run", "--features", faces_cache, "--config", str(config), "--workers", "1",
                 "--run-dir", str(tmp_path / "run"), "--tensorboard", str(logdir)]) == 0
    scalars = _scalars(str(logdir))
    logbook = json.loads((tmp_path / "run" / "logbook.json").read_text())
    np.testing.assert_allclose([scalars["front/hypervolume"][k] for k in range(1, 7)],
                               [row["hypervolume"] for row in logbook], rtol=1e-6)
    assert [scalars["front/size"][k] for k in range(1, 7)] == [row["front_size"] for row in logbook]
    assert "best/fitness" not in scalars


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
