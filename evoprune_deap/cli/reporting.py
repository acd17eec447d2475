"""``evoprune report`` and ``plot``: tables and figures from run directories."""

from __future__ import annotations

import os

from ..errors import EvopruneError
from ..storage import check_folder


def _check_run_paths(paths: list) -> None:
    """``report`` and ``plot`` take run directories (or folders of them): a file or a missing path is refused
    before a default ``--out`` is made from it."""
    for path in paths:
        if not os.path.exists(path) or os.path.isfile(path):
            what = "is a file, not a run directory" if os.path.exists(path) else "does not exist"
            raise EvopruneError(
                f"{path!r} {what}; pass run directories (`evoprune run` prints each) or the folder "
                "holding them, e.g. runs/."
            )


def _beside_runs(run_dirs: list, folder: str) -> str:
    """``folder`` inside the one directory given, or inside the directory the given ones share."""
    return os.path.join(os.path.commonpath([os.path.abspath(p) for p in run_dirs]), folder)


def report(args) -> int:
    from ..report.tables import to_markdown, write_report

    if args.out is None:  # the default --out is made from them: check them first
        _check_run_paths(args.run_dirs)
    args.out = args.out or _beside_runs(args.run_dirs, "report")
    check_folder(args.out, "--out")
    tables = write_report(args.run_dirs, args.out, args.caption)
    names = [
        name
        for name in (
            "paper_table",
            "method_table",
            "optimism_table",
            "pareto_table",
            "front_table",
            "export_table",
        )
        if name in tables
    ]
    for name in names:
        print(to_markdown(tables[name]))
    extra = ", front_differences.csv" if "front_table" in tables else ""
    print(
        f"tables written to {args.out}/ (runs.csv, summary.csv, differences.csv{extra}, "
        f"{', '.join(name + '.*' for name in names)})"
    )
    return 0


def plot(args) -> int:
    from ..report.plots import write_plots

    if args.out is None:  # the default --out is made from them: check them first
        _check_run_paths(args.run_dirs)
    args.out = args.out or _beside_runs(args.run_dirs, "plots")
    check_folder(args.out, "--out")
    for path in write_plots(args.run_dirs, args.out):
        print(path)
    return 0
