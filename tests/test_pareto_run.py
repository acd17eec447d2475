"""A real tiny multi-objective run (NSGA-II on accuracy, active fraction, OOD AUROC), end to end.

In-distribution: scikit-learn's real 8x8 digits (10 classes); out of
distribution: scikit-image's LFW faces; EfficientNet-Lite0 features at 32 px.
"""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import write_digits_folder

from evoprune_deap.cli import main
from evoprune_deap.data.loading import load_feature_set
from evoprune_deap.records.directory import RunDirectory

pytestmark = pytest.mark.slow  # real multi-objective runs, select and ensemble in fresh processes

OPTIONS = [
    "--image-size",
    "32",
    "--objectives",
    "accuracy,active,ood",
    "--population",
    "8",
    "--evaluations",
    "18",
    "--max-epochs",
    "8",
    "--workers",
    "1",
    "--seed",
    "1",
]


@pytest.fixture(scope="module")
def folders(tmp_path_factory, faces_folder):
    root = tmp_path_factory.mktemp("pareto")
    return write_digits_folder(root / "digits", n_per_class=20, classes=tuple(range(10))), faces_folder, root


@pytest.fixture(scope="module")
def pareto_run(folders):
    digits, faces, root = folders
    run_dir = root / "run"
    assert (
        main(["-q", "run", "--images", digits, "--ood-images", faces, *OPTIONS, "--run-dir", str(run_dir)])
        == 0
    )
    return run_dir


def test_run_writes_the_front_its_plots_and_hypervolume_per_evaluation(pareto_run):
    for name in (
        "front.csv",
        "front.png",
        "hypervolume.png",
        "front_baselines.csv",
        "best_head.keras",
        "summary.json",
        "logbook.json",
        "convergence.png",
    ):
        assert (pareto_run / name).stat().st_size > 0, name
    front = pd.read_csv(pareto_run / "front.csv")
    evaluations = pd.read_csv(pareto_run / "evaluations.csv")
    logbook = json.loads((pareto_run / "logbook.json").read_text())
    assert len(logbook) == len(evaluations) == 18
    assert all(0 <= row["hypervolume"] <= 1 for row in logbook)
    assert [row["hypervolume"] for row in logbook] == sorted(row["hypervolume"] for row in logbook)
    # every front member was evaluated, with the objectives the GA logged, and none dominates another
    logged = evaluations.set_index("mask_hash")
    values = []
    for _, member in front.iterrows():
        row = logged.loc[member["mask_hash"]]
        assert member["accuracy"] == row["fitness"] and member["ood_auroc"] == pytest.approx(row["ood_auroc"])
        values.append((member["accuracy"], -member["active_percent"], member["ood_auroc"]))
        assert 0 <= member["test_accuracy"] <= 1 and 0 <= member["test_ood_auroc"] <= 1
    values = np.array(values)
    for i, a in enumerate(values):
        assert not any(np.all(b >= a) and np.any(b > a) for j, b in enumerate(values) if j != i)
    summary = json.loads((pareto_run / "summary.json").read_text())
    assert summary["objectives"] == ["accuracy", "active", "ood"] and summary["front_size"] == len(front)
    assert summary["hypervolume"] == pytest.approx(logbook[-1]["hypervolume"])
    assert summary["fitness"] == front["accuracy"].max()
    baselines = pd.read_csv(pareto_run / "front_baselines.csv")
    assert {"unpruned", "linear_probe", "random", "weight_magnitude"} <= set(baselines["method"])
    assert set(baselines["front_member"]) <= set(front["mask_hash"])


def _predict_in_fresh_process(model_path, x, tmp_path):
    np.save(tmp_path / "x.npy", x)
    script = (
        "import numpy as np, evoprune_deap\n"
        f"model = evoprune_deap.load_head({str(model_path)!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, model.predict(x, verbose=0))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=300)
    return np.load(tmp_path / "p.npy")


def test_select_exports_the_member_a_rule_chooses_and_it_reloads(pareto_run, tmp_path, capsys):
    front = pd.read_csv(pareto_run / "front.csv")
    limit = float(np.median(front["active_percent"]))
    out = tmp_path / "chosen.keras"
    assert main(["select", str(pareto_run), "--max-active", f"{limit}%", "--out", str(out)]) == 0
    record = json.loads((tmp_path / "chosen.json").read_text())
    allowed = front[front["active_percent"] <= limit]
    assert record["accuracy"] == allowed["accuracy"].max()
    # the rule reads the GA's own accuracy (its logged fitness: validation), never test
    logged = pd.read_csv(pareto_run / "evaluations.csv").drop_duplicates("mask_hash").set_index("mask_hash")
    assert (
        record["accuracy"]
        == logged.loc[record["mask_hash"], "fitness"]
        == logged.loc[allowed["mask_hash"], "fitness"].max()
    )
    member = front.set_index("mask_hash").loc[record["mask_hash"]]
    # retrained from its seed: the head its front row describes
    assert (
        record["val_accuracy"] == member["val_accuracy"]
        and record["test_accuracy"] == member["test_accuracy"]
    )
    config = RunDirectory(str(pareto_run)).read_config()
    x, y = load_feature_set(config).arrays()["test"]
    probabilities = _predict_in_fresh_process(out, x, tmp_path)
    assert float(np.mean(probabilities.argmax(1) == y)) == pytest.approx(record["test_accuracy"])
    assert main(["select", str(pareto_run), "--knee"]) == 0
    assert main(["select", str(pareto_run), "--min-accuracy", str(front["accuracy"].min())]) == 0
    chosen = json.loads(next((pareto_run / "selected").glob("min_accuracy*.json")).read_text())
    assert chosen["n_active"] == front["n_active"].min()


def test_ensemble_is_a_majority_vote_saved_as_one_model(pareto_run, tmp_path, capsys):
    out = tmp_path / "vote.keras"
    assert main(["ensemble", str(pareto_run), "--window", "0-100", "--out", str(out)]) == 0
    record = json.loads((tmp_path / "vote.json").read_text())
    front = pd.read_csv(pareto_run / "front.csv")
    assert sorted(record["members"]) == sorted(front["mask_hash"])
    table = pd.read_csv(tmp_path / "vote.csv")
    assert len(table) == len(front) + 2 and "best single member" in table["member"].iloc[-1]
    config = RunDirectory(str(pareto_run)).read_config()
    x, y = load_feature_set(config).arrays()["test"]
    votes = _predict_in_fresh_process(out, x, tmp_path)
    assert float(np.mean(votes.argmax(1) == y)) == pytest.approx(record["test_accuracy"])
    np.testing.assert_allclose(votes.sum(1), 1.0, atol=1e-5)
    assert 0 <= record["test_ood_auroc"] <= 1


def test_majority_vote_counts_votes_and_breaks_a_tie_by_the_mean_probability():
    import keras

    from evoprune_deap.head.models.layers import MajorityVote

    # three heads, two samples, three classes
    a = np.array([[0.6, 0.3, 0.1], [0.50, 0.45, 0.05]], np.float32)
    b = np.array([[0.1, 0.8, 0.1], [0.10, 0.85, 0.05]], np.float32)
    c = np.array([[0.5, 0.4, 0.1], [0.40, 0.10, 0.50]], np.float32)
    out = keras.ops.convert_to_numpy(MajorityVote()([a, b, c]))
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-6)
    assert out[0].argmax() == 0  # two votes for class 0 beat one for class 1, though class 1's mean is higher
    assert np.mean([a[0], b[0], c[0]], axis=0).argmax() == 1
    assert out[1].argmax() == 1  # one vote each: the tie goes to the higher mean probability (class 1, 0.467)
    two = keras.ops.convert_to_numpy(MajorityVote()([a, b]))
    assert two[0].argmax() == 1 and two[1].argmax() == 1  # 1-1 ties: means (0.35, 0.55) and (0.30, 0.65)
    # a head whose top two classes tie exactly votes once, for the first (argmax's rule)
    d = np.array([[0.4, 0.4, 0.2]], np.float32)
    e = np.array([[0.1, 0.2, 0.7]], np.float32)
    tied = keras.ops.convert_to_numpy(MajorityVote()([d, e]))
    np.testing.assert_allclose(tied[0], (np.array([1, 0, 1]) + 0.5 * (d[0] + e[0]) / 2) / 2.5, atol=1e-6)
    assert tied[0].argmax() == 2  # one vote each for 0 and 2; class 2's mean (0.45) beats class 0's (0.25)


def test_exported_ensemble_classifies_images_as_the_vote_over_cached_features(pareto_run, tmp_path, refused):
    from evoprune_deap.shipping.deploy_check import agreement, split_images, two_stage
    from evoprune_deap.shipping.litert import predict

    vote = tmp_path / "vote.keras"
    assert main(["-q", "ensemble", str(pareto_run), "--window", "0-100", "--out", str(vote)]) == 0
    image_model = tmp_path / "vote_images.tflite"
    assert (
        main(
            [
                "-q",
                "export",
                str(pareto_run),
                "--selected",
                str(vote),
                "--format",
                "litert",
                "--out",
                str(image_model),
            ]
        )
        == 0
    )
    record = json.loads((tmp_path / "vote_images.tflite.json").read_text())
    assert record["n_heads"] == len(pd.read_csv(pareto_run / "front.csv")) > 1
    images, features, labels = split_images(str(pareto_run))
    lite = predict(str(image_model), images)
    assert "keras" not in lite["modules"]
    found = agreement(two_stage(str(vote), features), lite["probabilities"], labels)
    assert found["agree"] == 1.0, found
    # a mask hash the front does not hold: one line naming the hashes it does
    line = refused(["export", str(pareto_run), "--member", "0123456789abcdef"], "is not in", pareto_run)
    assert pd.read_csv(pareto_run / "front.csv")["mask_hash"].iloc[0] in line


def test_select_and_ensemble_refuse_bad_requests(pareto_run, tmp_path, refused):
    refused(["select", str(pareto_run), "--max-active", "0.0001%"], "No front member has at most", pareto_run)
    refused(["select", str(pareto_run), "--min-accuracy", "1.5"], "1.5", pareto_run)
    refused(["ensemble", str(pareto_run), "--window", "95-85"], "LOW <= HIGH", pareto_run)
    refused(["select", str(tmp_path), "--knee"], "not a run directory", tmp_path)
    refused(
        ["select", str(pareto_run)], "see `evoprune select --help`", pareto_run
    )  # no rule: argparse's error


def test_ood_data_errors_name_the_fix(folders, tmp_path, refused):
    digits, faces, _ = folders
    run = ["run", "--images", digits, "--out", str(tmp_path)]
    refused(
        [*run, "--objectives", "accuracy,active,ood", "--workers", "1"],
        "needs out-of-distribution images",
        tmp_path,
        digits,
    )
    refused(
        [*run, "--ood-images", digits, "--objectives", "accuracy,ood", "--image-size", "32"],
        "share the classes",
        tmp_path,
        digits,
    )
    refused(
        [
            *run,
            "--ood-images",
            str(tmp_path / "missing"),
            "--objectives",
            "accuracy,ood",
            "--image-size",
            "32",
        ],
        "missing",
        tmp_path,
    )
    one_class = tmp_path.parent / "one_class"
    write_digits_folder(one_class, n_per_class=3, classes=(7,))
    line = refused(
        [*run, "--ood-images", str(one_class), "--objectives", "accuracy,ood", "--image-size", "32"],
        "Out-of-distribution images",
        tmp_path,
        one_class,
    )
    assert "two or more class subfolders" in line
    refused([*run, "--objectives", "accuracy"], "one objective", tmp_path)
    refused([*run, "--objectives", "accuracy,speed"], "speed", tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


def test_ood_feature_cache_made_with_another_image_size_is_refused(folders, tmp_path, refused):
    digits, faces, _ = folders
    cache = tmp_path / "faces48.npz"
    assert main(["-q", "extract", "--images", faces, "--image-size", "48", "--out", str(cache)]) == 0
    argv = ["run", "--images", digits, "--image-size", "32", "--ood-features", str(cache)]
    line = refused(
        [*argv, "--objectives", "accuracy,ood", "--out", str(tmp_path / "runs")], "image_size = 48", tmp_path
    )  # before the run's own images are extracted: nothing is cached
    assert "same backbone and image size" in line


def test_killed_multiobjective_run_resumes_to_the_same_front(pareto_run, folders, tmp_path):
    digits, faces, _ = folders
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "evoprune_deap",
        "-q",
        "run",
        "--images",
        digits,
        "--ood-images",
        faces,
        *OPTIONS,
        "--run-dir",
        str(run_dir),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = run_dir / "evaluations.csv"
    import time

    deadline = time.time() + 300
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 6):
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run_dir / "summary.json").exists()
    killed_at = len(pd.read_csv(log))
    assert 5 <= killed_at < 18, (
        killed_at
    )  # the kill landed mid-search: past the first rows, short of the budget
    assert main(["-q", "run", "--resume", str(run_dir)]) == 0
    for name in ("evaluations.csv", "front.csv", "best_mask.json"):
        columns = None if name != "evaluations.csv" else ["mask_hash", "fitness", "ood_auroc", "epochs"]
        if name.endswith(".csv"):
            got, want = pd.read_csv(run_dir / name), pd.read_csv(pareto_run / name)
            pd.testing.assert_frame_equal(
                got[columns] if columns else got, want[columns] if columns else want
            )
        else:
            assert (run_dir / name).read_text() == (pareto_run / name).read_text()
    assert json.loads((run_dir / "logbook.json").read_text()) == json.loads(
        (pareto_run / "logbook.json").read_text()
    )


def test_report_tables_the_front_and_its_ensemble(pareto_run, tmp_path, capsys):
    from evoprune_deap.report.tables import write_report

    assert main(["-q", "ensemble", str(pareto_run), "--window", "50-100"]) == 0
    record = json.loads(next((pareto_run / "ensemble").glob("*.json")).read_text())
    table = write_report([str(pareto_run)], str(tmp_path / "report"))["pareto_table"]
    row = table.xs(1, level="seed").iloc[0]
    front = pd.read_csv(pareto_run / "front.csv")
    assert row["front_size"] == len(front) and row["ensemble_50-100_members"] == len(record["members"])
    assert row["ensemble_50-100_test_accuracy"] == pytest.approx(record["test_accuracy"], abs=1e-4)
    assert row["most_accurate_test_accuracy"] == pytest.approx(
        front["test_accuracy"][front["accuracy"].idxmax()], abs=1e-4
    )
    assert (tmp_path / "report" / "pareto_table.md").exists()
    from evoprune_deap.report.plots import write_plots

    written = {os.path.basename(path) for path in write_plots([str(pareto_run)], str(tmp_path / "plots"))}
    assert {"hypervolume.png", "front_digits_fc1_seed1.png", "convergence.png"} <= written


def test_front_is_compared_with_one_shot_pruning_at_its_members_own_sparsities(pareto_run):
    from evoprune_deap.report.pareto import front_runs

    along = front_runs([str(pareto_run)]).set_index("method")
    front = pd.read_csv(pareto_run / "front.csv").set_index("mask_hash")
    baselines = pd.read_csv(pareto_run / "front_baselines.csv")
    magnitude = baselines[baselines["method"] == "weight_magnitude"]
    members = front.loc[magnitude["front_member"]]
    assert len(members) >= 2  # members spread along the front
    np.testing.assert_allclose(
        magnitude["active_percent"].to_numpy(), members["active_percent"].to_numpy(), atol=1e-3
    )
    assert along.loc["nsga2", "test_accuracy"] == pytest.approx(members["test_accuracy"].mean())
    assert along.loc["weight_magnitude", "test_accuracy"] == pytest.approx(magnitude["test_accuracy"].mean())
    assert "unpruned" not in along.index and "linear_probe" not in along.index
