import dataclasses
import json
import os
import runpy
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from conftest import check_refusal, snapshot, write_digits_folder

from evoprune_deap.records.directory import RunDirectory
from evoprune_deap.records.evaluation_log import COLUMNS as EVALUATION_COLUMNS
from evoprune_deap.records.summary import RunSummary
from evoprune_deap.report.tables import aggregate, collect, paper_table, to_latex, to_markdown, write_report

EXPERIMENTS = os.path.join(os.path.dirname(__file__), "..", "experiments")


def _fake_run(root, encoding, seed, rng):
    run_dir = os.path.join(root, encoding, f"seed{seed}")
    os.makedirs(run_dir)
    n = 12
    table = pd.DataFrame(
        {
            "evaluation": np.arange(1, n + 1),
            "mask_hash": [f"h{i}" for i in range(n)],
            "n_active": rng.integers(1, 512, n),
            "fitness": np.round(rng.random(n), 3),
            "val_accuracy": rng.random(n),
            "epochs": 5,
            "seconds": 1.0,
            "mask": "",
        }
    )
    table["active_percent"] = 100 * table["n_active"] / 512
    table[list(EVALUATION_COLUMNS)].to_csv(os.path.join(run_dir, "evaluations.csv"), index=False)
    summary = {
        "source": "toy",
        "encoding": encoding,
        "seed": seed,
        "protocol": "honest",
        "test_accuracy": float(rng.random()),
        "val_accuracy": float(rng.random()),
        "wall_seconds": 10.0,
    }
    numbers = {field.name: 0 for field in dataclasses.fields(RunSummary)}  # the fields the tables do not read
    RunDirectory(run_dir).write_summary(RunSummary(**{**numbers, **summary}))
    RunDirectory(run_dir).write_best_mask(encoding, rng.random(512) < 0.5)
    pd.DataFrame(
        [
            {
                "method": "unpruned",
                "draw": 0,
                "val_accuracy": 0.5,
                "test_accuracy": 0.4 + seed / 10,
                "active_percent": 100.0,
            }
        ]
    ).to_csv(os.path.join(run_dir, "baselines.csv"), index=False)
    return run_dir, table, summary


def test_report_numbers_equal_those_recomputed_from_the_run_files(tmp_path):
    rng = np.random.default_rng(0)
    made = [_fake_run(str(tmp_path), enc, seed, rng) for enc in ("fc1", "fs") for seed in range(3)]
    summary = aggregate(collect([str(tmp_path)]))
    for encoding in ("fc1", "fs"):
        runs = [(t, s) for d, t, s in made if s["encoding"] == encoding]
        best = [t.sort_values(["fitness", "n_active"], ascending=[False, True]).iloc[0] for t, _ in runs]
        row = summary[(summary["encoding"] == encoding) & (summary["method"] == "ga")].iloc[0]
        assert row["fitness_mean"] == pytest.approx(np.mean([b["fitness"] for b in best]))
        assert row["active_percent_mean"] == pytest.approx(np.mean([b["active_percent"] for b in best]))
        assert row["test_accuracy_mean"] == pytest.approx(np.mean([s["test_accuracy"] for _, s in runs]))
        assert row["test_accuracy_std"] == pytest.approx(
            np.std([s["test_accuracy"] for _, s in runs], ddof=1)
        )
        assert row["evaluations_mean"] == 12 and row["n_runs"] == 3
        unpruned = summary[(summary["encoding"] == encoding) & (summary["method"] == "unpruned")].iloc[0]
        assert unpruned["test_accuracy_mean"] == pytest.approx(0.5)
    table = paper_table(summary)
    assert list(table.columns) == ["fc1", "fs"] and "±" in table.loc["toy", "fc1"]
    assert "| dataset | fc1 | fs |" in to_markdown(table)
    assert r"\begin{tabular}" in to_latex(table, "reduced budget")
    written = write_report([str(tmp_path)], str(tmp_path / "report"))
    assert os.path.isfile(tmp_path / "report" / "paper_table.tex") and len(written["runs"]) == 12


def test_a_report_of_one_seed_shows_no_made_up_spread_or_interval(tmp_path, capsys):
    from evoprune_deap.cli import main
    from evoprune_deap.report.tables import _front_cell

    _fake_run(str(tmp_path / "campaign"), "fc1", 0, np.random.default_rng(2))
    assert main(["report", str(tmp_path / "campaign"), "--out", str(tmp_path / "report")]) == 0
    tables = capsys.readouterr().out.split("tables written to")[0]  # not the path, which may hold "nan"
    assert "(1 seed)" in tables and "±" not in tables and "nan" not in tables
    one = {"mean_difference": 0.017, "ci_low": np.nan, "ci_high": np.nan, "p_holm": np.nan, "n_seeds": 1}
    assert _front_cell(pd.Series(one)) == "+1.7 (n=1)"
    three = {**one, "ci_low": -0.002, "ci_high": 0.035, "p_holm": 0.41, "n_seeds": 3}
    assert _front_cell(pd.Series(three)) == "+1.7 [-0.2, +3.5] p_holm 0.41"


def test_report_with_no_ga_run_writes_no_empty_paper_table(tmp_path):
    rng = np.random.default_rng(3)
    run_dir, _, _ = _fake_run(str(tmp_path / "campaign"), "fc1", 0, rng)
    directory = RunDirectory(run_dir)  # a multi-objective run: its row is NSGA-II's, no GA's
    directory.write_summary(dataclasses.replace(directory.read_summary(), objectives=("accuracy", "active")))
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "paper_table.md").write_text("an earlier report's, of GA runs")
    written = write_report([str(tmp_path / "campaign")], str(tmp_path / "report"))
    assert "paper_table" not in written and not os.path.exists(tmp_path / "report" / "paper_table.md")


def test_report_and_plot_commands_draw_from_saved_tables(tmp_path, capsys):
    from evoprune_deap.cli import main

    rng = np.random.default_rng(1)
    for encoding in ("fc1", "both"):
        for seed in range(2):
            _fake_run(str(tmp_path / "campaign"), encoding, seed, rng)
    assert main(["report", str(tmp_path / "campaign"), "--out", str(tmp_path / "report")]) == 0
    assert "| dataset | fc1 | both |" in capsys.readouterr().out
    assert main(["plot", str(tmp_path / "campaign"), "--out", str(tmp_path / "plots")]) == 0
    names = sorted(os.listdir(tmp_path / "plots"))
    assert names == [
        "active_percent.png",
        "convergence.png",
        "differences.png",
        "kept_units_toy_both.png",
        "kept_units_toy_fc1.png",
    ]
    assert all(os.path.getsize(tmp_path / "plots" / n) > 5000 for n in names)


@pytest.mark.parametrize("command", ["report", "plot"])
def test_report_and_plot_of_a_missing_folder_are_refused(tmp_path, refused, command):
    line = refused([command, str(tmp_path / "nothing")], "nothing' does not exist", tmp_path)
    assert "pass run directories" in line


def _run_script(name, *args):
    argv = sys.argv
    sys.argv = [name, *args]
    try:
        runpy.run_path(os.path.join(EXPERIMENTS, f"{name}.py"), run_name="__main__")
    except SystemExit as exit_:
        return exit_.code
    finally:
        sys.argv = argv
    return 0


TINY = [
    "--seeds",
    "0",
    "--population",
    "4",
    "--evaluations",
    "4",
    "--max-epochs",
    "2",
    "--random-draws",
    "1",
    "--workers",
    "1",
    "--hidden-units",
    "16,16",
]  # small heads: every mask's head pads to one program
SCRIPTS = ["elpv", "fashion_mnist", "srsmas", "rps", "leaves", "painting", "cataract", "plants"]


@pytest.mark.slow
def test_an_experiment_script_runs_a_tiny_multiobjective_campaign(faces_features, faces_cache, tmp_path):
    """README: an experiment script, and `campaign --objectives`, end to end."""
    from evoprune_deap.cli import main

    out = tmp_path / "elpv"
    code = _run_script(
        "elpv",
        "--features",
        faces_cache,
        "--encodings",
        "fc2",
        "--objectives",
        "accuracy,active",
        "--out",
        str(out),
        *TINY,
    )
    assert code == 0
    run = out / "fc2" / "seed0"
    assert (run / "baselines.csv").exists() and (run / "front_baselines.csv").exists()
    assert len(pd.read_csv(run / "front.csv")) >= 1
    assert main(["-q", "report", str(out)]) == 0
    assert (out / "report" / "pareto_table.csv").exists()


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_experiment_script_is_the_campaign_of_its_own_toml(name, monkeypatch):
    """The scripts differ only in their TOML (the elpv one runs for real above): each hands its own TOML and
    the user's options to `evoprune campaign`, and the TOML is a valid config for it."""
    from evoprune_deap.cli import build_parser, config_from_args

    seen = []
    monkeypatch.setattr("evoprune_deap.cli.main", lambda argv: seen.append(argv) or 0)
    assert _run_script(name, "--seeds", "0", "1", "--encodings", "fs") == 0
    toml = os.path.join(os.path.abspath(EXPERIMENTS), f"{name}.toml")
    assert [os.path.abspath(seen[0][1]) if i == 1 else a for i, a in enumerate(seen[0])] == [
        "campaign",
        toml,
        "--seeds",
        "0",
        "1",
        "--encodings",
        "fs",
    ]
    import tomllib

    args = build_parser().parse_args(seen[0])
    config = config_from_args(args, config_path=args.campaign_config)  # every key known, every value in range
    with open(toml, "rb") as stream:
        written = tomllib.load(stream)
    assert written.get("data") or name == "elpv"  # elpv is the built-in default
    for table, values in written.items():
        for key, value in values.items():
            got = getattr(getattr(config, table), key)
            assert got in (
                value,
                tuple(value) if isinstance(value, list) else value,
                os.path.abspath(os.path.join(os.path.dirname(toml), str(value))),  # a path beside the TOML
            ), (table, key, got)
    assert args.seeds == [0, 1] and args.encodings == ["fs"]


@pytest.mark.slow
def test_campaign_skips_finished_combinations_and_reads_zips(tmp_path, capsys):
    for split, n in (("rps", 6), ("rps-test-set", 2)):
        folder = write_digits_folder(tmp_path / split / split, n_per_class=n)
        with zipfile.ZipFile(tmp_path / f"{split}.zip", "w") as archive:
            for root, _, files in os.walk(folder):
                for file in files:
                    path = os.path.join(root, file)
                    archive.write(path, os.path.relpath(path, tmp_path / split))
    out = str(tmp_path / "campaign")
    args = [
        "--images",
        str(tmp_path / "rps.zip"),
        "--test-images",
        str(tmp_path / "rps-test-set.zip"),
        "--encodings",
        "fs",
        "--out",
        out,
        *TINY,
    ]
    assert _run_script("rps", *args) == 0
    first = os.path.getmtime(os.path.join(out, "fs", "seed0", "summary.json"))
    capsys.readouterr()
    assert _run_script("rps", *args) == 0
    assert "skip" in capsys.readouterr().out
    assert os.path.getmtime(os.path.join(out, "fs", "seed0", "summary.json")) == first
    summary = json.load(open(os.path.join(out, "fs", "seed0", "summary.json")))
    assert summary["n_classes"] == 3


@pytest.mark.parametrize(
    "name, hint",
    [("rps", "rps.zip"), ("leaves", "Citrus.zip"), ("plants", "PlantDoc"), ("srsmas", "5 folds")],
)
def test_paper_scripts_say_where_to_get_missing_data(name, hint, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    line = check_refusal(_run_script(name, *TINY), capsys.readouterr().err, hint)
    assert "not found" in line and "--images" in line and snapshot(tmp_path) == before


@pytest.mark.slow
def test_campaign_runs_combinations_concurrently_on_a_cluster_with_the_same_results(
    faces_features, faces_cache, tmp_path
):
    from evoprune_deap.cli import main

    # 8 evaluations: past the initial population, so runs at once interleave on the workers' queue
    tiny = [
        "--seeds",
        "0",
        "1",
        "--encodings",
        "fc1",
        "--population",
        "4",
        "--evaluations",
        "8",
        "--max-epochs",
        "2",
        "--random-draws",
        "1",
        "--hidden-units",
        "16",
        "--features",
        faces_cache,
    ]
    config = os.path.join(EXPERIMENTS, "elpv.toml")
    assert main(["campaign", config, *tiny, "--workers", "1", "--out", str(tmp_path / "serial")]) == 0
    assert (
        main(
            [
                "campaign",
                config,
                *tiny,
                "--workers",
                "2",
                "--parallel-runs",
                "2",
                "--out",
                str(tmp_path / "cluster"),
            ]
        )
        == 0
    )
    for seed in ("seed0", "seed1"):
        for name in ("evaluations.csv", "baselines.csv"):
            columns = ["mask_hash", "fitness"] if name == "evaluations.csv" else ["method", "test_accuracy"]
            want = pd.read_csv(tmp_path / "serial" / "fc1" / seed / name)[columns]
            pd.testing.assert_frame_equal(
                pd.read_csv(tmp_path / "cluster" / "fc1" / seed / name)[columns], want
            )
    # --parallel-runs 2 ran the two runs at once: each started (its config.toml) before the other ended (its
    # baselines.csv, written last). The evaluations alone may not overlap: 8 tiny ones can end before the
    # other run's first starts, while its baselines still train.
    runs = [tmp_path / "cluster" / "fc1" / seed for seed in ("seed0", "seed1")]
    (start0, end0), (start1, end1) = [
        (os.path.getmtime(run / "config.toml"), os.path.getmtime(run / "baselines.csv")) for run in runs
    ]
    assert start1 < end0 and start0 < end1, (start0, end0, start1, end1)


@pytest.mark.slow
def test_campaign_audits_both_protocols_end_to_end(faces_features, faces_cache, tmp_path):
    """README: `evoprune campaign ... --protocols honest paper` (the optimism audit)."""
    from evoprune_deap.cli import main

    audit = tmp_path / "audit"
    assert (
        main(
            [
                "-q",
                "campaign",
                os.path.join(EXPERIMENTS, "elpv.toml"),
                "--features",
                faces_cache,
                "--encodings",
                "fc1",
                *TINY,
                "--protocols",
                "honest",
                "paper",
                "--out",
                str(audit),
            ]
        )
        == 0
    )
    for protocol in ("honest", "paper"):
        run = RunDirectory(str(audit / protocol / "fc1" / "seed0"))
        assert run.is_finished and run.read_config().run.protocol == protocol
        assert run.read_config().data.holdout_fraction > 0  # the audit holds out part of train
    assert main(["-q", "report", str(audit)]) == 0
    optimism = pd.read_csv(audit / "report" / "optimism_table.csv")
    assert sorted(optimism["protocol"]) == ["honest", "paper"]


@pytest.mark.slow
def test_campaign_resumes_an_unfinished_run(faces_features, faces_cache, tmp_path, caplog, monkeypatch):
    from evoprune_deap.cli import main
    from evoprune_deap.head.trainer import HeadTrainer
    from evoprune_deap.records.directory import RunDirectory
    from evoprune_deap.search.bits import mask_from_hex

    args = [
        "campaign",
        os.path.join(EXPERIMENTS, "elpv.toml"),
        "--seeds",
        "0",
        "--encodings",
        "fc1",
        "--population",
        "4",
        "--evaluations",
        "8",
        "--max-epochs",
        "2",
        "--random-draws",
        "1",
        "--hidden-units",
        "16",
        "--workers",
        "1",
        "--features",
        faces_cache,
        "--out",
        str(tmp_path / "c"),
    ]
    assert main(args) == 0
    run = RunDirectory(tmp_path / "c" / "fc1" / "seed0")
    finished = pd.read_csv(run.file(RunDirectory.EVALUATIONS))
    # Make it a run killed after 3 evaluations: no summary, no baselines, a short log.
    for name in (
        RunDirectory.SUMMARY,
        RunDirectory.BASELINES,
        RunDirectory.BEST_MASK,
        RunDirectory.BEST_HEAD,
    ):
        os.remove(run.file(name))
    for name in (RunDirectory.EVALUATIONS, RunDirectory.JOURNAL):
        lines = open(run.file(name)).read().splitlines(keepends=True)
        open(run.file(name), "w").write("".join(lines[:4]))
    trained = []  # the FC1 bits of every head trained from here on
    original = HeadTrainer.train_many
    monkeypatch.setattr(
        HeadTrainer,
        "train_many",
        lambda self, masks, *rest: (
            trained.extend(m.hidden[0].tobytes() for m in masks) or original(self, masks, *rest)
        ),
    )
    with caplog.at_level("WARNING"):
        assert main(args) == 0
    assert "Resuming unfinished run" in caplog.text
    resumed = pd.read_csv(run.file(RunDirectory.EVALUATIONS))
    pd.testing.assert_frame_equal(resumed[["mask_hash", "fitness"]], finished[["mask_hash", "fitness"]])
    logged = [mask_from_hex(hex_).tobytes() for hex_ in finished["mask"]]
    best = run.read_best_mask().tobytes()
    for key in logged[:3]:  # replayed, not retrained (but the best, whose weights a replay cannot bring back)
        assert trained.count(key) == (1 if key == best else 0)
    for key in logged[3:]:
        assert trained.count(key) >= 1
    assert run.is_finished and run.has(RunDirectory.BASELINES)


@pytest.mark.slow
def test_the_fitness_variants_script_runs_its_campaigns_and_one_report(faces_features, faces_cache, tmp_path):
    out = tmp_path / "fitness"
    code = _run_script(
        "fitness_variants",
        "--variants",
        "per_mask",
        "common_r3",
        "--encodings",
        "fc1",
        "--out",
        str(out),
        "--features",
        faces_cache,
        *TINY,
    )
    assert code == 0
    runs = pd.read_csv(out / "report" / "runs.csv")
    variants = {os.path.basename(os.path.dirname(os.path.dirname(d))) for d in runs["run_dir"]}
    assert variants == {"per_mask", "common_r3"}  # both campaigns, in one report
    log = pd.read_csv(out / "common_r3" / "fc1" / "seed0" / "evaluations.csv")
    assert "spread" in log.columns  # three trainings per mask
    assert "spread" not in pd.read_csv(out / "per_mask" / "fc1" / "seed0" / "evaluations.csv").columns
