"""Issue 32, items 0, 1, 4 and 5: the paper's preset runs; another configuration gets its own run
directory; the Python API trains in its own process; heads that cannot fit, changed logs, a campaign's
foreign runs, an unrelated export target and data options a feature cache contradicts are refused in one
line, before any work, writing nothing (checked as a user meets them: `refused`, without -q)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from evoprune_deap.cli import main
from evoprune_deap.config import PAPER_EVALUATIONS, load_config
from evoprune_deap.records.directory import RunDirectory

TINY = [
    "--population",
    "4",
    "--evaluations",
    "6",
    "--max-epochs",
    "2",
    "--hidden-units",
    "16",
    "--workers",
    "1",
]


@pytest.fixture(scope="module")
def finished_run(faces_cache, faces_features, tmp_path_factory):
    """A finished tiny run on the real LFW features (64 px)."""
    run_dir = str(tmp_path_factory.mktemp("round2") / "run")
    assert main(["-q", "run", "--features", faces_cache, *TINY, "--run-dir", run_dir]) == 0
    return run_dir


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.keras").write_text("my own model, not an export\n")
    (tmp_path / "fs.toml").write_text("[head]\nhidden_units = [16]\n")
    return tmp_path


# ---------------------------------------------------------------- item 0: the paper preset, run names
@pytest.mark.parametrize("encoding, widths", [("fc1", "16"), ("both", "16,16")])
def test_the_paper_preset_runs_with_its_own_budget_and_records_the_cache(
    faces_cache, faces_features, tmp_path, monkeypatch, encoding, widths
):
    """`evoprune run --preset paper [--encoding both]`: no [ga] evaluations, so GAConfig.budget (the
    paper's per encoding, made small here) is the budget; config.toml says the cache's 64 px, not 224."""
    monkeypatch.setitem(PAPER_EVALUATIONS, encoding, 6)
    argv = ["-q", "run", "--preset", "paper", "--features", faces_cache, "--encoding", encoding]
    argv += ["--population", "4", "--max-epochs", "2", "--hidden-units", widths, "--workers", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    (name,) = os.listdir(tmp_path)
    assert f"_{encoding}_seed0_paper_" in name
    run = RunDirectory(str(tmp_path / name))
    summary = run.read_summary()
    assert summary.evaluations == 6 and summary.stop_reason == "budget"
    config = run.read_config()
    assert config.ga.evaluations is None and config.fitness.seeds == "common"
    assert config.data.image_size == 64 and config.data.split_seed == 0  # what the run used
    assert config.data.val_fraction == 0.2 and config.data.test_fraction == 0.25


def test_the_tours_run_variants_each_get_their_own_directory(faces_cache, faces_features, tmp_path):
    """The README tour runs `evoprune run`, then variants of it: none is refused as a finished run."""
    out = str(tmp_path / "runs")
    for extra in ([], ["--in-flight", "2"]):
        assert main(["-q", "run", "--features", faces_cache, *TINY, *extra, "--out", out]) == 0
    names = sorted(os.listdir(out))
    assert len(names) == 2 and names[0] != names[1]


@pytest.mark.parametrize(
    "overrides, suffix",
    [
        ({}, ""),
        ({"data": {"split_seed": 1}}, "_split1"),
        ({"ga": {"in_flight": 2}}, "_inflight2"),
        ({"fitness": {"seeds": "common", "repeats": 3}}, "_common_repeats3"),
        ({"fitness": {"folds": 3}}, "_cv3"),
        ({"data": {"image_size": 224}}, "_px224"),
        ({"run": {"workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, "head": {"engine": "batched"}}, ""),
        ({"head": {"hidden_units": [512, 512]}}, ""),  # the preset's own head, spelled out
        ({"ga": {"evaluations": 40}}, ""),
    ],
)
def test_a_run_directory_names_what_differs_from_the_preset(overrides, suffix):
    from evoprune_deap.run.preflight import run_suffix

    assert run_suffix(load_config(overrides=overrides)) == suffix


def test_many_differences_are_named_by_a_hash_that_tells_them_apart():
    from evoprune_deap.run.preflight import run_suffix

    base = {"ga": {"population": 4, "evaluations": 6}, "head": {"max_epochs": 2}}
    one = run_suffix(load_config(overrides={**base, "fitness": {"repeats": 2}}))
    two = run_suffix(load_config(overrides={**base, "fitness": {"repeats": 3}}))
    assert one != two and len(one.split("_")[-1]) == 8
    assert run_suffix(load_config(preset="paper")) == "_paper"


SCRIPT = """
from evoprune_deap import FeatureSet, load_config, run_experiment

features = FeatureSet.load({cache!r})
config = load_config(overrides={{"ga": {{"population": 4, "evaluations": 4}},
                                 "head": {{"hidden_units": [16], "max_epochs": 2}}}})
result = run_experiment(config, features)
print("run", result.run_dir, result.summary.evaluations)
"""


@pytest.mark.slow  # a fresh Python process
def test_the_python_api_runs_from_a_plain_script_without_a_main_guard(faces_cache, faces_features, tmp_path):
    """README "From Python": pasted into a script (no `if __name__ == "__main__"`), it trains in its own
    process (as scikit-learn's n_jobs=None) instead of starting worker processes that re-import it."""
    (tmp_path / "snippet.py").write_text(SCRIPT.format(cache=faces_cache))
    done = subprocess.run(
        [sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "4" and "Nanny" not in done.stderr
    (name,) = os.listdir(tmp_path / "runs")
    assert RunDirectory(str(tmp_path / "runs" / name)).read_environment()["workers"] == 1


def test_a_run_that_fails_before_its_first_evaluation_leaves_no_folder_behind(faces_features, tmp_path):
    from evoprune_deap.errors import EvopruneError
    from evoprune_deap.run.experiment import run_experiment

    run_dir = str(tmp_path / "run")
    unreachable = load_config(
        overrides={"ga": {"population": 4, "evaluations": 4}, "run": {"scheduler": "tcp://127.0.0.1:1"}}
    )
    with pytest.raises(EvopruneError):
        run_experiment(unreachable, faces_features, run_dir=run_dir)
    assert not os.path.exists(run_dir)  # so the next run can start there
    config = load_config(overrides={"ga": {"population": 4, "evaluations": 4}, "head": {"max_epochs": 1}})
    assert run_experiment(config, faces_features, run_dir=run_dir).summary.evaluations == 4


# ---------------------------------------------------------------- item 1: what would not fit
def test_heads_and_budgets_beyond_any_machine_are_refused(faces_cache, here, refused):
    refused(["run", "--features", faces_cache, "--hidden-units", "1000000000"], "in [1, 16384]", here)
    refused(["run", "--population", "1000000"], "population=1000000", here)
    refused(["run", "--evaluations", "1000000000"], "evaluations=1000000000", here)
    refused(["run", "--max-epochs", "1000000000"], "max_epochs=1000000000", here)


def test_a_head_this_machine_cannot_hold_is_refused_naming_the_widest_that_fits(
    faces_cache, faces_features, here, refused, monkeypatch
):
    from evoprune_deap.head.trainer import head_bytes
    from evoprune_deap.run import preflight

    assert preflight._memory_limit(load_config(overrides={"run": {"workers": 1}})) > 2**30  # this machine
    monkeypatch.setattr(preflight, "_memory_limit", lambda config: 2**30)
    argv = ["run", "--features", faces_cache, "--hidden-units", "16384,16384", "--workers", "1"]
    line = refused(argv, "use at most --hidden-units ", here)
    fits = int(line.rsplit("--hidden-units ", 1)[1].split(",")[0])
    train = faces_features.splits[0].train.size
    assert (
        head_bytes((1280, fits, fits, 2), train, 32)
        <= 2**30
        < head_bytes((1280, fits + 1, fits + 1, 2), train, 32)
    )


# ---------------------------------------------------------------- item 4: logs, campaigns, exports
def _resumable(finished_run, tmp_path) -> str:
    run_dir = str(tmp_path / "resumable")
    shutil.copytree(finished_run, run_dir)
    os.unlink(os.path.join(run_dir, RunDirectory.SUMMARY))
    return run_dir


@pytest.mark.parametrize("name", [RunDirectory.EVALUATIONS, RunDirectory.JOURNAL])
def test_a_changed_log_is_refused_on_resume_naming_the_file_and_the_row(
    finished_run, faces_cache, here, refused, name
):
    run_dir = _resumable(finished_run, here)
    path = os.path.join(run_dir, name)
    lines = open(path).read().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    fields = lines[2].rstrip("\n").split(",")
    fields[header.index("fitness")] = "0.99"
    lines[2] = ",".join(fields) + "\n"
    with open(path, "w") as stream:
        stream.writelines(lines)
    line = refused(["run", "--resume", run_dir], "row 2 (line 3) does not match its check", here)
    assert name in line and "restore the file" in line


def test_an_unchanged_log_resumes_and_one_written_before_checks_still_does(finished_run, here):
    from evoprune_deap.records.evaluation_log import CHECK

    run_dir = _resumable(finished_run, here)
    for name in (RunDirectory.EVALUATIONS, RunDirectory.JOURNAL):  # as an older version wrote them
        path = os.path.join(run_dir, name)
        lines = open(path).read().splitlines()
        assert lines[0].endswith("," + CHECK)
        with open(path, "w") as stream:
            stream.write("".join(line.rsplit(",", 1)[0] + "\n" for line in lines))
    assert main(["-q", "run", "--resume", run_dir]) == 0
    assert RunDirectory(run_dir).read_summary().evaluations == 6


def test_a_campaign_refuses_to_skip_a_run_it_would_not_have_made(faces_features, faces_cache, here, refused):
    (here / "tiny.toml").write_text("[run]\nworkers = 1\n")
    data = str(here / "data.npz")
    shutil.copy(faces_cache, data)
    argv = ["campaign", "tiny.toml", "--features", data, "--seeds", "0", "--encodings", "fc1"]
    argv += ["--population", "4", "--evaluations", "4", "--hidden-units", "16", "--random-draws", "1"]
    assert main(["-q", *argv, "--max-epochs", "2", "--out", "camp"]) == 0
    refused([*argv, "--max-epochs", "3", "--out", "camp"], "[head] max_epochs = 2 there, 3 here", here)
    from evoprune_deap.data.features import FeatureSet

    other = FeatureSet.load(faces_cache)
    key = {**other.metadata["key"], "source_fingerprint": "other images"}
    os.unlink(data)
    FeatureSet(
        other.features, other.labels, other.class_names, other.splits, {**other.metadata, "key": key}
    ).save(data)
    refused([*argv, "--max-epochs", "2", "--out", "camp"], "its features were made from other data", here)


def test_export_never_overwrites_an_unrelated_file(finished_run, here, refused):
    before = (here / "notes.keras").read_text()
    refused(
        ["export", finished_run, "--out", "notes.keras"], "'notes.keras' exists and is not an export", here
    )
    assert (here / "notes.keras").read_text() == before
    refused(["export", finished_run, "--input-size", "100000x100000"], "in [1, 4096]", here)


def test_an_export_target_is_overwritten_only_if_it_is_the_runs_own_or_forced(tmp_path):
    from evoprune_deap.errors import ConfigError
    from evoprune_deap.shipping.export import check_out

    out = str(tmp_path / "model.keras")
    check_out(out, "run", force=False)  # new: fine
    open(out, "w").close()
    with pytest.raises(ConfigError, match="--force"):
        check_out(out, "run", force=False)
    check_out(out, "run", force=True)
    with open(out + ".json", "w") as stream:
        json.dump({"model": out, "run_dir": os.path.abspath("run")}, stream)
    check_out(out, "run", force=False)  # its own earlier export
    with pytest.raises(ConfigError, match="not an export of run 'other'"):
        check_out(out, "other", force=False)


# -------------------------------------------------------------- item 5: options a cache contradicts, parsers
@pytest.mark.parametrize(
    "extra, match",
    [
        (["--image-size", "128"], "--image-size 128 contradicts --features"),
        (["--split-seed", "1"], "--split-seed 1 contradicts --features"),
        (["--val-fraction", "0.3"], "--val-fraction 0.3 contradicts --features"),
        (["--backbone", "resnet50"], "--backbone resnet50 contradicts --features"),
        (["--images", "."], "--images has no effect with --features"),
        (["--dataset", "elpv"], "--dataset has no effect with --features"),
        (["--train-subset", "10"], "--train-subset has no effect with --features"),
        (["--name", "other"], "--name has no effect with --features"),
    ],
)
def test_data_options_that_contradict_the_feature_cache_are_refused(faces_cache, here, refused, extra, match):
    refused(["run", "--features", faces_cache, *extra], match, here)


def test_options_agreeing_with_the_cache_are_taken(faces_cache, faces_features):
    from evoprune_deap.cli import build_parser, config_from_args

    args = build_parser().parse_args(["run", "--features", faces_cache, "--image-size", "64"])
    assert config_from_args(args).data.image_size == 64


@pytest.mark.parametrize(
    "argv, match",
    [
        (["campaign", "fs.toml", "--encoding", "fc1"], "unrecognized arguments: --encoding"),
        (["run", "--pop", "4"], "unrecognized arguments: --pop"),
        (["export", "run", "--quant", "float16"], "unrecognized arguments: --quant"),
        (["run", "--holdout-fraction", "0.99"], "holdout_fraction=0.99"),
        (["campaign", "fs.toml", "--parallel-runs", "-1"], "'-1' is not an integer >= 0"),
        (["extract", "--out", "f.txt"], "--out 'f.txt' is not a .npz file"),
    ],
)
def test_abbreviations_and_out_of_range_options_are_refused(here, refused, argv, match):
    refused(argv, match, here)


def test_a_python_script_config_trains_here_and_the_command_line_on_every_core():
    from evoprune_deap.cli import build_parser, config_from_args
    from evoprune_deap.evaluation.setup import resolve_workers

    assert load_config().run.workers is None and resolve_workers(None) == 1
    assert config_from_args(build_parser().parse_args(["run"])).run.workers == 0


@pytest.mark.parametrize("encoding, same", [("fc1", True), ("fs", False)])
def test_a_campaign_compares_the_widths_a_run_trains_not_how_they_were_written(tmp_path, encoding, same):
    """A run recorded with hidden_units = [512, 512] is the run an unset hidden_units makes for fc1 (the
    encoding's paper widths), and not for fs (one layer of 512)."""
    from evoprune_deap.config import from_dict
    from evoprune_deap.errors import RunDirectoryError
    from evoprune_deap.records.directory import RunDirectory
    from evoprune_deap.run.campaign import check_same_run

    directory = RunDirectory(str(tmp_path))
    directory.write_config(from_dict({"ga": {"encoding": encoding}, "head": {"hidden_units": [512, 512]}}))
    planned = from_dict({"ga": {"encoding": encoding}})
    if same:
        check_same_run(directory, planned, None, str(tmp_path))
    else:
        with pytest.raises(RunDirectoryError, match=r"hidden_units = \(512, 512\) there, \(512,\) here"):
            check_same_run(directory, planned, None, str(tmp_path))


def test_a_runs_config_names_its_out_folder_absolutely(tmp_path, monkeypatch):
    """A relative --out is stored as the folder it named, so config.toml describes the run from anywhere."""
    import tomllib

    monkeypatch.chdir(tmp_path)
    run = RunDirectory(str(tmp_path / "run")).create()
    run.write_config(load_config(overrides={"run": {"out": "runs"}}))
    with open(run.file(RunDirectory.CONFIG), "rb") as stream:
        assert tomllib.load(stream)["run"]["out"] == str(tmp_path / "runs")


def test_an_occupied_run_dir_is_refused_before_the_images_are_embedded(tmp_path, refused):
    """--run-dir names the folder before the features exist: it is checked first, so a refused run leaves no
    feature cache behind (and prints no extraction progress before its one line)."""
    from conftest import write_digits_folder

    folder = write_digits_folder(tmp_path / "digits", n_per_class=10)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("not a run")
    argv = ["run", "--images", folder, "--image-size", "32", "--run-dir", str(tmp_path / "taken")]
    refused(argv, "already holds files", tmp_path)
