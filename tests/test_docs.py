"""The README and the documentation pages cannot drift from the code: commands parse, API names exist."""

import contextlib
import importlib
import io
import pathlib
import re
import shlex

import pytest

from evoprune_deap.cli import build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^\s*(```|~~~)")


def code_lines(text: str) -> list[str]:
    """The lines of a Markdown text's fenced code blocks, with backslash continuations joined."""
    lines, inside, pending = [], False, ""
    for line in text.splitlines():
        if FENCE.match(line):
            inside, pending = not inside, ""
            continue
        if not inside:
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines


def evoprune_commands(text: str) -> list[list[str]]:
    """Each ``evoprune ...`` command of the code blocks, as its arguments (comments and shell chains cut)."""
    found = []
    for line in code_lines(text):
        for part in re.split(r"&&|\|\||;|\|", line):
            try:
                words = shlex.split(part, comments=True)
            except ValueError:  # an unbalanced quote: not shell (a Python line, a table)
                continue
            while words and (words[0] == "time" or re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0])):
                words = words[1:]
            if words and pathlib.PurePath(words[0]).name == "evoprune":
                found.append(words[1:])
    return found


def parse_error(argv: list[str]) -> str | None:
    """None if the real parser takes ``argv``; else what it printed."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit:
        return stderr.getvalue().strip() or "exit"
    return None


def test_every_documented_command_parses():
    commands = [
        (page.relative_to(ROOT), argv) for page in PAGES for argv in evoprune_commands(page.read_text())
    ]
    assert len(commands) > 60  # the README's tour and the guide's commands are all read
    assert {argv[0] for _, argv in commands} >= {
        "extract",
        "run",
        "campaign",
        "select",
        "ensemble",
        "export",
        "report",
        "plot",
    }
    failures = [
        f"{page}: evoprune {shlex.join(argv)}: {error}"
        for page, argv in commands
        if (error := parse_error(argv)) is not None
    ]
    assert failures == []


def test_the_command_reader_finds_commands_and_the_parser_check_catches_a_stale_one():
    text = (
        "```bash\nA=1 evoprune run --seed 3 \\\n  --encoding fs   # a comment\n"
        "cd x && .venv/bin/evoprune plot r\n```\n"
    )
    assert evoprune_commands(text) == [["run", "--seed", "3", "--encoding", "fs"], ["plot", "r"]]
    assert evoprune_commands("evoprune run --seed 3\n") == []  # outside a code block: prose, not a command
    assert parse_error(["run", "--seed", "3"]) is None
    assert "--no-such-option" in parse_error(["run", "--no-such-option"])
    assert parse_error(["export"])  # a required argument missing


def test_the_readme_is_short_and_says_what_it_is_first():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move the detail into docs/"
    first = " ".join(lines[:5]).lower()
    for words in ("evolutionary pruning", "transfer-learning", "evoprunedeeptl", "deap", "you get"):
        assert words in first, f"README.md's first five lines do not say {words!r}"


def documented_api(text: str) -> dict:
    """``{name: object}`` of every ``::: module.Name`` of the API page."""
    found = {}
    for path in re.findall(r"^::: ([\w.]+)$", text, flags=re.MULTILINE):
        module, name = path.rsplit(".", 1)
        found[name] = getattr(importlib.import_module(module), name)
    return found


def test_the_api_reference_documents_everything_public():
    """Every name of ``evoprune_deap.__all__`` resolves; the API page renders it from where it is defined."""
    import evoprune_deap

    public = {name: getattr(evoprune_deap, name) for name in evoprune_deap.__all__ if name != "__version__"}
    documented = documented_api((ROOT / "docs" / "reference" / "api.md").read_text())
    assert sorted(documented) == sorted(public)
    assert [name for name in public if documented[name] is not public[name]] == []


def test_the_cli_reference_is_generated_from_the_parser():
    pytest.importorskip("mkdocs")  # the [docs] extra
    spec = importlib.util.spec_from_file_location("generated", ROOT / "docs" / "_hooks" / "generated.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = hook.cli_reference()
    parser = build_parser()
    names = hook.subcommands(parser)
    assert names == ["extract", "run", "campaign", "select", "ensemble", "export", "report", "plot"]
    for name in names:
        assert f"## evoprune {name}\n" in page
        assert hook.command_help(parser, [name]) in page
    assert "--resume RUN_DIR" in page and "--quantize {none," in page
