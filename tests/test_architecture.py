"""The architecture's promises: imports flow down the layers, one list of each kind of name."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("evoprune_deap.search.steady_state", ("keras", "jax", "tensorflow")),
        ("evoprune_deap.run.evolution", ("keras", "jax", "tensorflow")),
        ("evoprune_deap.report.tables", ("keras", "jax", "tensorflow", "deap")),
        ("evoprune_deap.report.plots", ("keras", "jax", "tensorflow", "deap")),
        ("evoprune_deap.config", ("keras", "deap", "pandas")),
    ],
)
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


LAYERS = (
    ("errors", "version"),
    ("config", "seeding", "storage", "quiet", "tensorflow_worker"),
    ("data",),
    ("head",),
    ("search",),
    ("evaluation",),
    ("records",),
    ("report",),
    ("compare",),
    ("shipping",),
    ("run",),
    ("estimators",),
    ("cli",),
    ("__main__", "__init__"),
)
"""The layer order the README's Architecture section states, lowest first: a module imports its own
layer's package or lower layers only."""


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module} is in no layer of LAYERS")


def _package_imports(root=None, name="evoprune_deap"):
    """(importing module, imported module, line) for every import of the package's own modules, at any depth."""
    import ast
    import pathlib

    import evoprune_deap

    root = pathlib.Path(root or pathlib.Path(evoprune_deap.__file__).parent)
    for path in sorted(root.rglob("*.py")):
        parts = (name, *path.relative_to(root).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target] if node.module else [f"{target}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                if target == name or target.startswith(name + "."):
                    yield module, target, node.lineno


def _violations(imports) -> list[str]:
    """Imports of another package of the same layer or of a higher layer (the two base layers may share)."""
    found = []
    for module, target, line in imports:
        own, other = (
            (module.split(".") + ["__init__"])[1],
            target.split(".")[1] if "." in target else "__init__",
        )
        if other == own:
            continue
        if _layer(target) > _layer(module) or (_layer(target) == _layer(module) and _layer(module) > 1):
            found.append(f"{module}:{line} imports {target}")
    return found


def test_every_import_of_the_package_goes_down_the_layers():
    imports = list(_package_imports())
    assert len(imports) > 150  # module-level and function-level imports are all read
    assert _violations(imports) == []


def test_the_import_check_sees_upward_imports_hidden_in_functions(tmp_path):
    """The checker itself, on a made-up package: a function-level upward import and a same-layer one."""
    for folder, text in {
        "run": "",
        "head": "def f():\n    from ..report.plots import save\n",
        "search": "import evoprune_deap.head.forward\nfrom ..data import sources\n",
        "data": "def g():\n    from ..search.bits import mask_key\n",
    }.items():
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
        (tmp_path / folder / "thing.py").write_text(text)
    found = _violations(_package_imports(tmp_path))
    assert found == [
        "evoprune_deap.data.thing:2 imports evoprune_deap.search.bits",
        "evoprune_deap.head.thing:2 imports evoprune_deap.report.plots",
    ]
