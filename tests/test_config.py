import pytest
import tomllib

from evoprune_deap.config import ExperimentConfig, dump_toml, from_dict, load_config
from evoprune_deap.errors import ConfigError


def test_dumped_config_loads_back_identical():
    config = load_config(
        preset="paper",
        overrides={"ga": {"encoding": "fs", "init_density": 0.3}, "data": {"features": "x.npz"}},
    )
    assert from_dict(tomllib.loads(dump_toml(config))) == config


def test_both_gets_300_evaluations_unless_set():
    assert load_config(preset="paper", overrides={"ga": {"encoding": "both"}}).ga.budget == 300
    assert (
        load_config(preset="paper", overrides={"ga": {"encoding": "both", "evaluations": 50}}).ga.budget == 50
    )
    assert load_config(preset="paper").ga.budget == 200
    # Under every path: a config made for fc1 and switched to both (as a campaign does) gets 300 too.
    assert load_config(preset="paper").replace(ga={"encoding": "both"}).ga.budget == 300


def test_paper_head_has_one_hidden_layer_for_feature_selection():
    paper = load_config(preset="paper")
    assert paper.hidden_units == (512, 512)
    assert paper.replace(ga={"encoding": "fs"}).hidden_units == (512,)  # the paper's FS head
    two = load_config(
        preset="paper", overrides={"ga": {"encoding": "fs"}, "head": {"hidden_units": [512, 512]}}
    )
    assert two.hidden_units == (512, 512)  # an explicit head wins, and survives a dump and reload
    assert from_dict(tomllib.loads(dump_toml(two))) == two


def test_extract_and_run_share_one_default_image_size():
    from evoprune_deap.cli import build_parser, config_from_args

    extract = config_from_args(build_parser().parse_args(["extract"]))
    run = config_from_args(build_parser().parse_args(["run"]))
    assert extract.data == run.data and run.data.image_size == 128
    assert (
        config_from_args(build_parser().parse_args(["extract", "--preset", "paper"])).data.image_size == 224
    )


def test_toml_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[ga]\nencoding = "fc2"\npopulation = 8\n[run]\nseed = 5\n')
    config = load_config(str(path), overrides={"run": {"seed": 7}})
    assert (config.ga.encoding, config.ga.population, config.run.seed) == ("fc2", 8, 7)


@pytest.mark.parametrize(
    "tables, match",
    [
        ({"ga": {"populaton": 10}}, "Unknown key `populaton` in \\[ga\\]; valid keys: encoding, population"),
        ({"gaa": {}}, "Unknown config table \\[gaa\\]"),
        ({"ga": {"population": "10"}}, "Invalid type for `population`"),
        ({"ga": {"population": 3}}, "population=3"),
        ({"ga": {"population": 10, "evaluations": 5}}, "evaluations=5"),
        ({"ga": {"mutation_prob": 1.5}}, "mutation_prob=1.5"),
        ({"ga": {"init_density": -0.1}}, "init_density"),
        ({"ga": {"encoding": "fc3"}}, "encoding='fc3'"),
        ({"head": {"max_epochs": 0}}, "max_epochs=0"),
        (
            {
                "head": {
                    "hidden_units": [512],
                },
                "ga": {"encoding": "fc2"},
            },
            "two hidden layers",
        ),
        ({"data": {"val_fraction": 1.0}}, "val_fraction=1.0"),
        ({"run": {"protocol": "cheat"}}, "protocol='cheat'"),
        ({"run": {"seed": -1}}, "seed=-1"),
    ],
)
def test_invalid_configs(tables, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(tables)


def test_config_errors_are_value_errors_and_files(tmp_path):
    with pytest.raises(ValueError):
        from_dict({"ga": {"population": 1}})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.toml"))
    bad = tmp_path / "bad.toml"
    bad.write_text("[ga\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="Unknown preset"):
        load_config(preset="huge")


def test_defaults_are_the_papers():
    config = ExperimentConfig()
    assert config.ga.population == 30 and config.ga.budget == 200 and config.hidden_units == (512, 512)
    assert config.ga.mutation_prob == 0.07 and config.ga.candidates == 3
    assert config.head.learning_rate == 1e-3 and config.head.momentum == 0.9 and config.head.nesterov
    assert config.head.batch_size == 32 and config.head.max_epochs == 600
    assert config.head.patience == 10 and config.head.min_delta == 1e-5
    assert config.run.protocol == "honest"
    assert config.head.use_bias is False  # the paper's pruned layers have no bias
