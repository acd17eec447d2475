"""The architecture's promises: imports flow down the layers, one list of each kind of name."""

import pathlib
import re
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


ROOT = pathlib.Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def documented_layers(text: str) -> tuple:
    """The layer order of the Architecture page, lowest first: its one line of `a -> b, c -> ...`."""
    lines = [line.strip().strip("`") for line in text.splitlines() if line.startswith("`") and " -> " in line]
    assert len(lines) == 1, f"{ARCHITECTURE} must state the layer order on one line; found {len(lines)}"
    return tuple(tuple(name.strip() for name in layer.split(",")) for layer in reversed(lines[0].split("->")))


LAYERS = documented_layers(ARCHITECTURE.read_text())
"""The layer order docs/architecture.md states, lowest first: a module imports its own layer's package or
lower layers only."""


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "__init__"
    for rank, names in enumerate(LAYERS):
        if top in names:
            return rank
    raise AssertionError(f"{module} is in no layer of LAYERS")


def _package_imports(root=None, name="evoprune_deap"):
    """(importing module, imported module, line) of every import of the package's own modules, any depth."""
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


def test_the_documented_layers_are_the_package():
    """Each top-level module or folder of the package is in one layer of the page, and nothing else is."""
    package = ROOT / "evoprune_deap"
    tops = {path.stem for path in package.glob("*.py")} | {
        path.name for path in package.iterdir() if (path / "__init__.py").exists()
    }
    named = [name for layer in LAYERS for name in layer]
    assert sorted(named) == sorted(tops)
    assert documented_layers("`cli -> run, report -> errors`\n") == (("errors",), ("run", "report"), ("cli",))


MODULE_PATH = re.compile(r"(?<![\w./-])((?:[a-z_0-9]+/)+[a-z_0-9]+\.py)\b")


def named_module_paths(text: str) -> set:
    """Paths like ``run/finish.py`` or ``benchmarks/fitness_noise.py`` named in a text."""
    return set(MODULE_PATH.findall(text))


def _exists(path: str) -> bool:
    return (ROOT / path).is_file() or (ROOT / "evoprune_deap" / path).is_file()


def test_every_module_path_the_docs_name_exists():
    """A stale pointer (a module moved or renamed) fails: README.md and every page of docs/."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    named = {(page.name, path) for page in pages for path in named_module_paths(page.read_text())}
    assert len({path for _, path in named}) > 20  # the pages do name modules: the pattern finds them
    assert sorted(f"{page}: {path}" for page, path in named if not _exists(path)) == []
    assert named_module_paths("see `run/fitness.py` and evoprune_deap/head/trainer.py") == {
        "run/fitness.py",
        "evoprune_deap/head/trainer.py",
    }
    assert not _exists("run/fitness.py")


def test_the_architecture_page_lists_every_module():
    """The modules section of docs/architecture.md names every file of the package, and only those."""
    text = ARCHITECTURE.read_text()
    tree = text[text.index("\n## The modules\n") :]
    tree = tree[: tree.index("\n## ", 1)]
    listed = set(re.findall(r"\b([a-z_0-9]+)\.py\b", tree))
    modules = {path.stem for path in (ROOT / "evoprune_deap").rglob("*.py")}
    assert listed == modules, (sorted(modules - listed), sorted(listed - modules))


def test_both_fitnesses_meet_the_one_protocol_and_a_function_needs_one_by_one():
    """One way into a persisted run: ``evaluate_many(masks, on_result)``; a plain function is adapted."""
    import numpy as np

    from evoprune_deap.evaluation.cluster import ClusterFitness
    from evoprune_deap.evaluation.fitness import MaskFitness
    from evoprune_deap.search.evaluator import BatchFitness, one_by_one

    for cls in (MaskFitness, ClusterFitness):
        missing = [
            name
            for name in ("score_many", "evaluate_many", "rescore_many", "local", "score")
            if not callable(getattr(cls, name, None))
        ]
        assert missing == [], f"{cls.__name__} lacks {missing}"
    heard = []
    adapted = one_by_one(lambda mask: float(mask.sum()))
    assert isinstance(adapted, BatchFitness)
    masks = [np.ones(3, bool), np.zeros(3, bool)]
    assert list(adapted.evaluate_many(masks, on_result=lambda m, r: heard.append(r))) == [3.0, 0.0]
    assert heard == [3.0, 0.0]  # the journal hears each result as it is computed
