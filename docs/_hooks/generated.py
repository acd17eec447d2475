"""Pages and files made at build time, so they cannot drift from the code and the results.

- ``reference/cli.md``: the help of ``evoprune`` and of each subcommand, from the real parser
  (``evoprune_deap.cli.build_parser``), exactly as ``evoprune NAME --help`` prints it;
- ``results/**/plots/*.png`` and ``results/noise/*.png``: the committed figures, served beside the pages
  that show them (MkDocs serves only files under ``docs_dir``), and ``results/README.md`` with the READMEs
  it cites as pages;
- on the API page, docstrings' Sphinx roles (``:meth:`X```) read as plain code.
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re

from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIGURES = ("results/*/plots/*.png", "results/*/*/plots/*.png", "results/noise/*.png")
RESULTS = ("results/README.md", "results/fitness_paper_budget/README.md", "results/noise_600/README.md")
"""The record of every committed result and the READMEs it sends readers to, served as they are."""


def command_help(parser, argv: list[str]) -> str:
    """What ``evoprune ARGV --help`` prints, 80 columns wide (the page does not depend on the terminal)."""
    out, columns = io.StringIO(), os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "80"  # argparse wraps at the terminal's width
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            parser.parse_args([*argv, "--help"])
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return out.getvalue().rstrip()


def subcommands(parser) -> list[str]:
    """The subcommand names, as the usage line lists them (``{extract,run,...}``)."""
    return re.search(r"\{([^}]*)\}", parser.format_usage()).group(1).split(",")


def cli_reference() -> str:
    from evoprune_deap.cli import build_parser

    parser = build_parser()
    lines = [
        "# Command line",
        "",
        "Generated at build time from the real parser (`evoprune_deap.cli.build_parser()`): each block is",
        "what `evoprune NAME --help` prints.",
        "",
        "```text",
        command_help(parser, []),
        "```",
    ]
    for name in subcommands(parser):
        lines += ["", f"## evoprune {name}", "", "```text", command_help(parser, [name]), "```"]
    return "\n".join(lines) + "\n"


SPHINX_ROLE = re.compile(r":(?:func|meth|class|attr|data|mod|exc|obj):(<code>)~?")
"""A Sphinx cross-reference role left in a docstring (``:meth:`~X```), which mkdocstrings prints as is."""


def on_page_content(html, page, config, files):
    """The API page without the Sphinx roles of docstrings: ``:meth:`~a.X``` reads as ``a.X``."""
    return SPHINX_ROLE.sub(r"\1", html) if page.file.src_uri == "reference/api.md" else html


def on_files(files, config):
    files.append(File.generated(config, "reference/cli.md", content=cli_reference()))
    for pattern in FIGURES:
        for path in sorted(ROOT.glob(pattern)):
            uri = path.relative_to(ROOT).as_posix()
            files.append(File.generated(config, uri, abs_src_path=str(path)))
    for page in RESULTS:
        files.append(File.generated(config, page, abs_src_path=str(ROOT / page)))
    return files
