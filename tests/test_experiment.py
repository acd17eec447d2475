import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from evoprune_deap.config import load_config
from evoprune_deap.errors import RunDirectoryError
from evoprune_deap.records.directory import RunDirectory
from evoprune_deap.run.experiment import run_experiment

TINY = {
    "ga": {"population": 4, "evaluations": 6},
    "head": {"hidden_units": [32, 16], "max_epochs": 3},
    "run": {"workers": 1},
}
FILES = (
    "config.toml",
    "environment.json",
    "evaluations.csv",
    "logbook.json",
    "best_mask.json",
    "best_head.keras",
    "summary.json",
    "convergence.png",
)


@pytest.fixture(scope="module")
def tiny_run(faces_features, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("runs") / "fc1")
    return run_experiment(load_config(overrides=TINY), faces_features, run_dir=run_dir)


def test_run_directory_holds_every_file(tiny_run):
    for name in FILES:
        assert os.path.getsize(os.path.join(tiny_run.run_dir, name)) > 0, name
    table = pd.read_csv(os.path.join(tiny_run.run_dir, "evaluations.csv"))
    assert list(table["evaluation"]) == list(range(1, 7))
    assert {"mask_hash", "n_active", "active_percent", "fitness", "epochs", "seconds"} <= set(table.columns)
    summary = RunDirectory(tiny_run.run_dir).read_summary()
    assert summary == tiny_run.summary
    assert summary.evaluations == 6 and summary.seed == 0
    assert summary.fitness == table["fitness"].max()
    assert 0 <= summary.test_accuracy <= 1 and 0 <= summary.unpruned_test_accuracy <= 1
    assert summary.active_percent == pytest.approx(100 * summary.n_active / 32)
    assert summary.parameters < summary.parameters_unpruned or summary.n_active == 32
    env = json.load(open(os.path.join(tiny_run.run_dir, "environment.json")))
    assert env["seed"] == 0 and env["packages"]["deap"].startswith("1.4")


@pytest.mark.slow
def test_saved_head_reloads_in_a_fresh_process_with_same_predictions(tiny_run, faces_features, tmp_path):
    x = faces_features.arrays()["test"][0]
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys, numpy as np, evoprune_deap\n"
        f"model = evoprune_deap.load_head({os.path.join(tiny_run.run_dir, 'best_head.keras')!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, model.predict(x, verbose=0))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    reloaded = np.load(tmp_path / "p.npy")
    np.testing.assert_allclose(reloaded, np.asarray(tiny_run.model.predict(x, verbose=0)), atol=1e-6)
    accuracy = float(np.mean(reloaded.argmax(1) == faces_features.arrays()["test"][1]))
    assert accuracy == pytest.approx(tiny_run.summary.test_accuracy)


def test_same_seed_same_evaluations(tiny_run, faces_features, tmp_path):
    again = run_experiment(load_config(overrides=TINY), faces_features, run_dir=str(tmp_path / "again"))
    columns = ["mask_hash", "fitness", "epochs"]
    pd.testing.assert_frame_equal(again.evaluations[columns], tiny_run.evaluations[columns])
    assert np.array_equal(again.best_mask, tiny_run.best_mask)


@pytest.mark.slow
@pytest.mark.slow
def test_feature_selection_run_saves_a_head_taking_all_features(faces_features, tmp_path):
    config = load_config(
        overrides={
            **TINY,
            "ga": {"encoding": "fs", "population": 4, "evaluations": 5},
            "head": {"hidden_units": [16], "max_epochs": 2},
        }
    )
    result = run_experiment(config, faces_features, run_dir=str(tmp_path / "fs"))
    assert result.model.input_shape == (None, faces_features.n_features)
    x = faces_features.arrays()["test"][0]
    code = (
        "import sys, numpy as np, evoprune_deap\n"
        f"print(evoprune_deap.load_head({os.path.join(result.run_dir, 'best_head.keras')!r}).input_shape)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.strip().endswith(f"(None, {faces_features.n_features})")
    assert x.shape[1] == faces_features.n_features
    assert result.summary.n_bits == faces_features.n_features


def test_existing_run_directory_is_refused(tiny_run, faces_features, tmp_path):
    with pytest.raises(RunDirectoryError, match="holds a finished run") as refused:
        run_experiment(load_config(overrides=TINY), faces_features, run_dir=tiny_run.run_dir)
    assert "--resume" not in str(refused.value)  # a finished run cannot be resumed: no such hint
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match="already holds files; it is not a run directory"):
        run_experiment(load_config(overrides=TINY), faces_features, run_dir=str(other))


@pytest.mark.slow
def test_pipelined_run_on_a_local_cluster_equals_the_serial_one(faces_features, tmp_path):
    """Two worker processes, 3 pairs in flight: the serial run, and finished.csv says where each ran."""
    overrides = {**TINY, "ga": {"population": 4, "evaluations": 10, "in_flight": 3}}
    serial = run_experiment(
        load_config(overrides=overrides), faces_features, run_dir=str(tmp_path / "serial")
    )
    cluster = run_experiment(
        load_config(overrides={**overrides, "run": {"workers": 2}}),
        faces_features,
        run_dir=str(tmp_path / "cluster"),
    )
    columns = ["mask_hash", "fitness", "val_accuracy", "epochs"]
    pd.testing.assert_frame_equal(cluster.evaluations[columns], serial.evaluations[columns])
    assert cluster.summary.test_accuracy == serial.summary.test_accuracy
    env = RunDirectory(cluster.run_dir).read_environment()
    assert env["workers"] == 2 and env["in_flight"] == 3
    # finished.csv: where and when each evaluation ran, two worker processes there, this process here
    journal = pd.read_csv(os.path.join(cluster.run_dir, "finished.csv"))
    assert journal["worker"].str.startswith("tcp://127.0.0.1:").all() and journal["worker"].nunique() == 2
    assert os.getpid() not in set(journal["pid"]) and journal["pid"].nunique() == 2
    assert (journal["started"] <= journal["ended"]).all() and journal["error"].isna().all()
    here = pd.read_csv(os.path.join(serial.run_dir, "finished.csv"))
    assert (here["worker"] == "local").all() and (here["pid"] == os.getpid()).all()
    assert not {"worker", "pid", "started", "ended", "error"} & set(cluster.evaluations.columns)


@pytest.mark.slow
def test_paper_protocol_end_to_end_scores_the_mean_test_accuracy_over_folds(tmp_path):
    from conftest import write_digits_folder

    from evoprune_deap.cli import main
    from evoprune_deap.data.features import FeatureSet
    from evoprune_deap.head.masks import Encoding
    from evoprune_deap.head.trainer import HeadTrainer
    from evoprune_deap.search.bits import mask_from_hex, mask_key
    from evoprune_deap.seeding import derive_seed

    for fold in range(3):
        write_digits_folder(tmp_path / "folds" / str(fold), n_per_class=6)
    cache = str(tmp_path / "folds.npz")
    assert main(["extract", "--images", str(tmp_path / "folds"), "--image-size", "32", "--out", cache]) == 0
    assert (
        main(
            [
                "run",
                "--features",
                cache,
                "--protocol",
                "paper",
                "--population",
                "4",
                "--evaluations",
                "4",
                "--max-epochs",
                "3",
                "--workers",
                "1",
                "--seed",
                "1",
                "--run-dir",
                str(tmp_path / "run"),
            ]
        )
        == 0
    )
    run = RunDirectory(tmp_path / "run")
    summary, features = run.read_summary(), FeatureSet.load(cache)
    assert summary.protocol == "paper" and summary.n_folds == 3
    config = run.read_config()
    row = run.read_evaluations().iloc[0]
    mask = mask_from_hex(row["mask"])
    encoding = Encoding("fc1", features.n_features, config.hidden_units)
    masks, trainer = (
        encoding.head_masks(mask),
        HeadTrainer(features.n_features, features.n_classes, config.head),
    )
    per_fold = []
    for fold in range(3):  # each fold's head, trained from its own seed, scored on that fold's test part
        arrays = features.arrays(fold)
        head = trainer.train(masks, *arrays["train"], derive_seed(1, "mask", mask_key(mask), fold))
        per_fold.append(head.accuracy(*arrays["test"]))
    assert row["fitness"] == pytest.approx(np.mean(per_fold), abs=1e-12)
