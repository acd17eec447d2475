"""The architecture's promises: imports flow down the layers, one list of each kind of name."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module, forbidden", [
    ("evoprune_deap.search.steady_state", ("keras", "jax", "tensorflow")),
    ("evoprune_deap.run.evolution", ("keras", "jax", "tensorflow")),
    ("evoprune_deap.report.tables", ("keras", "jax", "tensorflow", "deap")),
    ("evoprune_deap.report.plots", ("keras", "jax", "tensorflow", "deap")),
    ("evoprune_deap.config", ("keras", "deap", "pandas")),
])
def test_layers_do_not_import_what_they_must_not(module, forbidden):
    code = f"import sys, {module}; print(' '.join(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "", f"{module} imports {out.strip()}"


def test_backbone_names_are_listed_once():
    from evoprune_deap.config import BACKBONES
    from evoprune_deap.data.backbones import keras_applications

    assert set(BACKBONES) == {"efficientnet_lite0", *keras_applications.APPLICATIONS}


def test_summary_with_a_missing_field_is_a_clear_error(tmp_path):
    from evoprune_deap.errors import RunDirectoryError
    from evoprune_deap.records.directory import RunDirectory

    (tmp_path / RunDirectory.SUMMARY).write_text('{"encoding": "fc1"}')
    with pytest.raises(RunDirectoryError, match="lacks protocol, seed"):
        RunDirectory(tmp_path).read_summary()
