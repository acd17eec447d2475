"""The final re-evaluation (issue 33): the K best masks trained again from fresh seeds, the best mean kept."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from evoprune_deap.config import FitnessConfig, from_dict, load_config
from evoprune_deap.errors import ConfigError
from evoprune_deap.evaluation.fitness import HeadScore, MaskFitness
from evoprune_deap.head.trainer import HeadTrainer
from evoprune_deap.records.directory import RunDirectory
from evoprune_deap.records.evaluation_log import EvaluationLog, log_row
from evoprune_deap.records.reevaluation_log import read_candidates
from evoprune_deap.run.experiment import run_experiment
from evoprune_deap.run.reevaluation import reevaluate
from evoprune_deap.search.bits import mask_hash, mask_key
from evoprune_deap.seeding import derive_seed

SEED = 2


def _config(**fitness):
    return from_dict(
        {
            "ga": {"population": 4, "evaluations": 8},
            "head": {"max_epochs": 3, "hidden_units": [16]},
            "run": {"seed": SEED, "workers": fitness.pop("workers", 1)},
            "fitness": fitness,
        }
    )


def _table(run_dir):
    return pd.read_csv(run_dir / RunDirectory.REEVALUATION)


def _summary(run_dir):
    summary = json.loads((run_dir / RunDirectory.SUMMARY).read_text())  # less what the processes changed
    return {k: v for k, v in summary.items() if not k.endswith("seconds") and k != "replayed_evaluations"}


@pytest.fixture(scope="module")
def whole(faces_features, tmp_path_factory):
    """A run with K = 3, R = 2, uninterrupted: the reference."""
    run_dir = tmp_path_factory.mktemp("whole") / "run"
    run_experiment(_config(reevaluate=3, final_repeats=2), faces_features, run_dir=str(run_dir))
    return run_dir


def test_fresh_scores_come_from_fresh_seeds_never_the_searchs(faces_features, tmp_path, monkeypatch):
    seeds = []
    train_many = HeadTrainer.train_many
    monkeypatch.setattr(
        HeadTrainer, "train_many", lambda self, m, x, y, s: seeds.extend(s) or train_many(self, m, x, y, s)
    )
    result = run_experiment(_config(reevaluate=3, final_repeats=2), faces_features, run_dir=str(tmp_path))
    log, table = pd.read_csv(tmp_path / "evaluations.csv"), _table(tmp_path)
    fitness = MaskFitness(
        faces_features, result_encoding(result, faces_features), _config().head, "honest", SEED
    )
    masks = [mask_from(row) for row in log["mask"]]
    search = {fitness.training_seed(mask, 0) for mask in masks + [fitness.encoding.full_mask()]}
    fresh = [seed for seed in seeds if seed not in search]
    assert len(fresh) == len(set(fresh)) == 3 * 2  # K x R trainings, each from its own new seed
    assert len(log) == 8 and result.summary.evaluations == 8 and result.summary.reevaluations == 6
    # each fresh score is the mask's head trained from its fresh seed, computed independently
    (x, y), (xv, yv) = faces_features.arrays()["train"], faces_features.arrays()["val"]
    trainer = HeadTrainer(faces_features.n_features, 2, _config().head)
    for _, row in table.iterrows():
        mask = mask_from(row["mask"])
        heads = fitness.encoding.head_masks(mask)
        expected = [
            trainer.train(
                heads, x, y, derive_seed(SEED, "reevaluate", r, "mask", mask_key(mask), 0)
            ).accuracy(xv, yv)
            for r in range(2)
        ]
        assert [float(v) for v in row["fresh_scores"].split()] == expected
        assert row["logged_fitness"] == log.loc[log["mask"] == row["mask"], "fitness"].iloc[0]
    assert list(table["logged_fitness"]) == sorted(table["logged_fitness"], reverse=True)
    assert table["mask_hash"].is_unique and table["chosen"].sum() == 1


def result_encoding(result, features):
    from evoprune_deap.head.masks import Encoding

    return Encoding("fc1", features.n_features, (16,))


def mask_from(text):
    from evoprune_deap.search.bits import mask_from_hex

    return mask_from_hex(text)


class NoisyFitness:
    """A fitness of pure logic: fresh score r of a mask is ``fresh[mask's first bits][r]``."""

    protocol = "honest"

    def __init__(self, fresh):
        self.fresh, self.asked = fresh, []

    def rescore_many(self, masks, repeats):
        for mask in masks:
            self.asked.append(mask_hash(mask))
            yield [HeadScore(value, None, 1, 0.0) for value in self.fresh[int(mask[:2].sum())][:repeats]]


def _logged_run(tmp_path, entries):
    """A run directory whose evaluations log holds ``(mask, fitness)`` entries."""
    log = EvaluationLog(str(tmp_path / RunDirectory.EVALUATIONS))
    for number, (mask, fitness) in enumerate(entries, start=1):
        log.append(log_row(number, np.asarray(mask, bool), fitness, {"val_accuracy": fitness}))
    log.close()
    return RunDirectory(str(tmp_path))


def test_the_choice_is_the_highest_fresh_mean_not_the_logged_best(tmp_path):
    best, second, third = [1, 1, 1, 1], [1, 0, 1, 1], [0, 0, 1, 0]
    directory = _logged_run(tmp_path, [(third, 0.70), (best, 0.90), (second, 0.85), (best, 0.90)])
    fitness = NoisyFitness({2: [0.60, 0.62], 1: [0.80, 0.84], 0: [0.79, 0.80]})
    outcome = reevaluate(fitness, directory, np.array(best, bool), k=3, repeats=2)
    table = _table(tmp_path)
    assert list(table["logged_fitness"]) == [0.90, 0.85, 0.70]  # distinct masks, best first
    assert list(table["chosen"]) == [False, True, False]
    assert outcome.chosen == 1 and outcome.mask.tolist() == [True, False, True, True]
    assert table["fresh_mean"].tolist() == pytest.approx([0.61, 0.82, 0.795])
    assert table["fresh_sd"][0] == pytest.approx(np.std([0.60, 0.62], ddof=1))
    fields = outcome.summary_fields(HeadScore(0.9, 0.7, 1, 0.0, holdout_accuracy=0.65))
    assert fields["logged_fitness"] == 0.85 and fields["reevaluated_fitness"] == pytest.approx(0.82)
    assert (fields["search_best_fitness"], fields["search_best_test_accuracy"]) == (0.90, 0.7)
    assert fields["reevaluations"] == 6


def test_a_tie_on_fresh_means_goes_to_fewer_active_bits(tmp_path):
    dense, sparse = [1, 1, 1, 1], [0, 1, 0, 1]
    directory = _logged_run(tmp_path, [(dense, 0.9), (sparse, 0.8)])
    fitness = NoisyFitness({2: [0.75], 1: [0.75]})
    assert reevaluate(fitness, directory, np.array(dense, bool), k=2, repeats=1).mask.tolist() == sparse
    assert math.isnan(read_candidates(str(tmp_path / RunDirectory.REEVALUATION))[0]["fresh_sd"])


def test_a_run_ships_the_chosen_mask_and_reports_the_searchs_best(
    faces_features, whole, tmp_path, monkeypatch
):
    """The logged best is made to score low when trained again: the run ships the second candidate."""
    table = _table(whole)
    first = table["mask_hash"][0]
    rescore = MaskFitness.rescore_many

    def cursed(self, masks, repeats):
        for mask, scores in zip(masks, rescore(self, masks, repeats)):
            low = mask_hash(mask) == first
            yield [HeadScore(0.0 if low else s.val_accuracy, None, s.epochs, 0.0) for s in scores]

    monkeypatch.setattr(MaskFitness, "rescore_many", cursed)
    result = run_experiment(_config(reevaluate=3, final_repeats=2), faces_features, run_dir=str(tmp_path))
    chosen = _table(tmp_path)
    assert not chosen["chosen"][0] and chosen["chosen"].sum() == 1
    row = chosen[chosen["chosen"]].iloc[0]
    assert mask_hash(result.best_mask) == row["mask_hash"] != first
    summary = result.summary
    assert summary.fitness == summary.logged_fitness == row["logged_fitness"]
    assert summary.reevaluated_fitness == pytest.approx(row["fresh_mean"])
    reference = _summary(whole)
    assert summary.search_best_test_accuracy == reference["search_best_test_accuracy"]
    assert summary.search_best_fitness == reference["search_best_fitness"] == table["logged_fitness"][0]
    # the shipped head is the chosen mask's, trained from its search seed
    fitness = MaskFitness(
        faces_features, result_encoding(result, faces_features), _config().head, "honest", SEED
    )
    shipped = fitness.score(result.best_mask, with_test=True)
    assert summary.test_accuracy == shipped.test_accuracy and summary.n_active == int(result.best_mask.sum())


def test_a_run_killed_during_reevaluation_resumes_without_redoing_finished_candidates(
    faces_features, whole, tmp_path, monkeypatch
):
    run_dir = tmp_path / "run"
    rescore = MaskFitness.rescore_many

    def killed(self, masks, repeats):
        scores = rescore(self, masks, repeats)
        yield next(scores)
        raise RuntimeError("killed")

    monkeypatch.setattr(MaskFitness, "rescore_many", killed)
    with pytest.raises(RuntimeError, match="killed"):
        run_experiment(_config(reevaluate=3, final_repeats=2), faces_features, run_dir=str(run_dir))
    assert len(read_candidates(str(run_dir / RunDirectory.REEVALUATION))) == 1
    assert not (run_dir / RunDirectory.SUMMARY).exists()
    with open(run_dir / RunDirectory.REEVALUATION, "a") as stream:
        stream.write("2,4f3a")  # a row torn by the kill
    asked = []
    monkeypatch.setattr(
        MaskFitness,
        "rescore_many",
        lambda self, masks, repeats: asked.extend(map(mask_hash, masks)) or rescore(self, masks, repeats),
    )
    run_experiment(_config(reevaluate=3, final_repeats=2), faces_features, run_dir=str(run_dir), resume=True)
    table = _table(whole)
    assert asked == list(table["mask_hash"][1:])  # only the candidates not yet journaled
    assert (run_dir / RunDirectory.REEVALUATION).read_bytes() == (
        whole / RunDirectory.REEVALUATION
    ).read_bytes()
    assert _summary(run_dir) == _summary(whole)
    assert (run_dir / "best_mask.json").read_text() == (whole / "best_mask.json").read_text()
    replayed = [
        json.loads((d / RunDirectory.SUMMARY).read_text())["replayed_evaluations"] for d in (run_dir, whole)
    ]
    assert replayed == [_summary(whole)["evaluations"], 0]  # the search was the killed process's


@pytest.mark.slow  # a local Dask cluster of two workers (about 2 min on 2 busy cores)
def test_reevaluation_on_dask_workers_equals_this_process(faces_features, whole, tmp_path):
    run_experiment(_config(reevaluate=3, final_repeats=2, workers=2), faces_features, run_dir=str(tmp_path))
    assert (tmp_path / RunDirectory.REEVALUATION).read_bytes() == (
        whole / RunDirectory.REEVALUATION
    ).read_bytes()
    assert _summary(tmp_path) == _summary(whole)


def test_the_estimator_passes_k_and_r_through(faces_features, tmp_path):
    from evoprune_deap.estimators import EvoPruneClassifier

    x, y = faces_features.features, faces_features.labels
    options = dict(population=4, evaluations=4, max_epochs=2, hidden_units=(16,), random_state=0)
    model = EvoPruneClassifier(**options, reevaluate=2, final_repeats=3, run_dir=str(tmp_path / "k")).fit(
        x, y
    )
    table = _table(tmp_path / "k")
    assert len(table) == 2 and (table["final_repeats"] == 3).all()
    assert model.reevaluated_fitness_ == table.loc[table["chosen"], "fresh_mean"].iloc[0]
    assert mask_hash(model.mask_) == table.loc[table["chosen"], "mask_hash"].iloc[0]
    plain = EvoPruneClassifier(**options, run_dir=str(tmp_path / "plain")).fit(x, y)
    assert (
        plain.reevaluated_fitness_ is None and not (tmp_path / "plain" / RunDirectory.REEVALUATION).exists()
    )
    summary = json.loads((tmp_path / "plain" / RunDirectory.SUMMARY).read_text())
    assert not {"logged_fitness", "reevaluated_fitness", "search_best_test_accuracy"} & set(summary)


def test_options_from_the_command_line_toml_and_presets(tmp_path):
    from evoprune_deap.cli import build_parser, config_from_args

    for command in (["run"], ["campaign", "x.toml"]):
        args = build_parser().parse_args([*command, "--reevaluate", "4", "--final-repeats", "2"])
        assert config_from_args(args, config_path=None).fitness == FitnessConfig(
            reevaluate=4, final_repeats=2
        )
    toml = tmp_path / "run.toml"
    toml.write_text("[fitness]\nreevaluate = 2\n")
    assert load_config(str(toml)).fitness.n_final_repeats == 3
    assert load_config().fitness.reevaluate == 0
    assert load_config(preset="paper").fitness.reevaluate == 5
    # the paper preset's re-evaluation is left out of a multi-objective run, unless asked for
    paper_front = load_config(preset="paper", overrides={"ga": {"objectives": ["accuracy", "active"]}})
    assert paper_front.fitness.reevaluate == 0
    with pytest.raises(ConfigError, match="single-objective"):
        load_config(overrides={"ga": {"objectives": ["accuracy", "active"]}, "fitness": {"reevaluate": 2}})


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--reevaluate", "-1"], "reevaluate=-1"),
        (["run", "--reevaluate", "65"], "an integer in [0, 64]"),
        (["run", "--reevaluate", "2", "--final-repeats", "0"], "final_repeats=0"),
        (["run", "--final-repeats", "3"], "needs reevaluate = K >= 1"),
        (["run", "--reevaluate", "2", "--objectives", "accuracy,active"], "single-objective"),
        (["campaign", "x.toml", "--reevaluate", "-2"], "reevaluate=-2"),
    ],
)
def test_bad_values_are_one_line_refusals(tmp_path, monkeypatch, refused, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.toml").write_text('[data]\ndataset = "elpv"\n')
    refused(argv, message, tmp_path)


def test_under_the_paper_protocol_the_fresh_fitness_is_the_test_score(faces_features):
    encoding = result_encoding(None, faces_features)
    mask = np.random.default_rng(0).random(encoding.n_bits) < 0.5
    paper = MaskFitness(faces_features, encoding, _config().head, "paper", SEED)
    (scores,) = list(paper.rescore_many([mask], 2))
    honest = MaskFitness(faces_features, encoding, _config().head, "honest", SEED)
    (same,) = list(honest.rescore_many([mask], 2))
    assert all(score.test_accuracy is not None for score in scores)
    assert [score.result("paper")[0] for score in scores] == [score.test_accuracy for score in scores]
    assert [s.val_accuracy for s in scores] == [s.val_accuracy for s in same]  # the same fresh heads


def test_the_winners_curse_script_reevaluates_a_finished_run_as_reevaluate_would_have(
    faces_features, faces_cache, tmp_path
):
    """experiments/winners_curse.py on a run made without --reevaluate gives, in a copy of it, the
    reevaluation.csv the same run made with it wrote (same candidates, same fresh seeds and scores), and
    leaves the finished run as it was."""
    import os
    import runpy

    script = runpy.run_path(os.path.join(os.path.dirname(__file__), "..", "experiments", "winners_curse.py"))

    def config(**fitness):  # the run names its features, which the script reads back
        return _config(**fitness).replace(data={"features": faces_cache})

    reference, plain = tmp_path / "with", tmp_path / "campaign" / "fc1" / "seed2"
    run_experiment(config(reevaluate=3, final_repeats=2), faces_features, run_dir=str(reference))
    run_experiment(config(), faces_features, run_dir=str(plain))
    before = {name: (plain / name).read_bytes() for name in os.listdir(plain)}
    script["main"](
        [str(tmp_path / "campaign"), "--out", str(tmp_path / "curse"), "--k", "3", "--repeats", "2"]
    )
    copy = tmp_path / "curse" / "fc1" / "seed2"
    assert (copy / RunDirectory.REEVALUATION).read_bytes() == (
        reference / RunDirectory.REEVALUATION
    ).read_bytes()
    assert {name: (plain / name).read_bytes() for name in os.listdir(plain)} == before
    curse = pd.read_csv(tmp_path / "curse" / "curse.csv")
    table = _table(reference)
    assert curse["curse_points"].iloc[0] == pytest.approx(
        100 * (table["logged_fitness"][0] - table["fresh_mean"][0])
    )
