"""Every import of the package's own modules names a module that exists, and a name that module defines.

Read with ``ast`` (nothing is imported), at any depth: a function-level ``from .data.features import
FeatureSet`` left behind in a module moved one folder down fails here, not at a user's first run.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1] / "evoprune_deap"


def _module_file(root: pathlib.Path, dotted: str) -> pathlib.Path | None:
    """``evoprune_deap.a.b`` -> root/a/b.py or root/a/b/__init__.py, if either exists."""
    parts = dotted.split(".")[1:]
    candidates = [root.joinpath(*parts, "__init__.py")]
    if parts:
        candidates.append(root.joinpath(*parts[:-1], parts[-1] + ".py"))
    return next((path for path in candidates if path.is_file()), None)


def _top_level_names(path: pathlib.Path) -> set:
    """The names a module binds at its top level: defs, classes, assignments, imports."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def unresolved_imports(root: pathlib.Path = ROOT, name: str = "evoprune_deap") -> list[str]:
    """``module:line imports target`` for each import of the package whose module or name does not exist."""
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = (name, *path.relative_to(root).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                imported = [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                target, imported = "", [alias.name for alias in node.names]
            else:
                continue
            if isinstance(node, ast.Import):
                missing = [n for n in imported if n.startswith(name + ".") and not _module_file(root, n)]
            elif not (target == name or target.startswith(name + ".")):
                continue
            elif (source := _module_file(root, target)) is None:
                missing = [target]
            else:
                names = _top_level_names(source)
                missing = [
                    f"{target}.{n}"
                    for n in imported
                    if n != "*" and n not in names and not _module_file(root, f"{target}.{n}")
                ]
            found += [f"{module}:{node.lineno} imports {gone}" for gone in missing]
    return found


def test_every_import_of_the_package_names_an_existing_module_and_name():
    assert unresolved_imports() == []


def test_the_check_sees_a_moved_module_and_a_missing_name(tmp_path):
    """The checker itself, on a made-up package: a module moved into a folder keeps a one-dot import."""
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "__init__.py").write_text("")
    (tmp_path / "data" / "features.py").write_text("class FeatureSet:\n    pass\n")
    (tmp_path / "cli").mkdir()
    (tmp_path / "cli" / "__init__.py").write_text("from .options import load\n")
    (tmp_path / "cli" / "options.py").write_text(
        "def load():\n    from .data.features import FeatureSet\n    from ..data.features import FeatureSet\n"
        "    from ..data.features import Missing\n    from ..data import features\n"
    )
    assert unresolved_imports(tmp_path) == [
        "evoprune_deap.cli.options:2 imports evoprune_deap.cli.data.features",
        "evoprune_deap.cli.options:4 imports evoprune_deap.data.features.Missing",
    ]
