"""Pandas tables from run directories (no Keras, no DEAP).

A run directory holds ``summary.json`` and ``evaluations.csv`` (the GA) and,
after a campaign, ``baselines.csv``. :func:`collect` makes one row per run and
method; :func:`aggregate` gives mean and std over seeds per dataset x encoding x
method; :func:`paper_table` lays it out as the paper's result table.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..config import ENCODINGS
from ..errors import RunDirectoryError
from ..run.baselines import METHODS
from ..run.directory import RunDirectory
from ..search.ranking import best_index

KEYS = ["dataset", "encoding", "method"]
METRICS = ["test_accuracy", "val_accuracy", "fitness", "active_percent", "evaluations", "wall_seconds"]


def find_run_dirs(paths) -> list[str]:
    """Every finished run directory (with a summary) under ``paths``, sorted."""
    found = set()
    for path in paths:
        if not os.path.exists(path):
            raise RunDirectoryError(f"Run directory {path!r} does not exist.")
        for root, _dirs, files in os.walk(path):
            if RunDirectory.SUMMARY in files:
                found.add(root)
    if not found:
        raise RunDirectoryError(f"No finished run ({RunDirectory.SUMMARY}) under {', '.join(map(str, paths))}.")
    return sorted(found)


def best_evaluation(evaluations: pd.DataFrame) -> pd.Series:
    """The best row of an evaluations table: highest fitness, ties to fewer active units."""
    ordered = evaluations.sort_values("evaluation")
    return ordered.iloc[best_index(ordered["fitness"], ordered["n_active"])]


def collect(paths) -> pd.DataFrame:
    """One row per (run, method): the GA from its evaluations.csv (fitness, active %,
    evaluations) and summary.json (accuracies of the retrained best head), baselines
    from baselines.csv.

    Random-mask baselines are averaged over their draws within a run.
    """
    rows = []
    for run_dir in find_run_dirs(paths):
        directory = RunDirectory(run_dir)
        summary = directory.read_summary()
        base = {"run_dir": run_dir, "dataset": summary.source, "encoding": summary.encoding,
                "seed": summary.seed, "protocol": summary.protocol}
        evaluations = directory.read_evaluations()
        best = best_evaluation(evaluations)
        rows.append({**base, "method": "ga", "test_accuracy": summary.test_accuracy,
                     "val_accuracy": summary.val_accuracy, "fitness": best["fitness"],
                     "active_percent": best["active_percent"], "evaluations": len(evaluations),
                     "wall_seconds": summary.wall_seconds})
        baselines = directory.read_baselines()
        if baselines is not None:
            for method, group in baselines.groupby("method", sort=False):
                rows.append({**base, "method": method, "test_accuracy": group["test_accuracy"].mean(),
                             "val_accuracy": group["val_accuracy"].mean(),
                             "fitness": np.nan, "active_percent": group["active_percent"].mean(),
                             "evaluations": np.nan, "wall_seconds": np.nan})
    return pd.DataFrame(rows)


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over seeds per dataset x encoding x method."""
    grouped = runs.groupby(KEYS, sort=False)[METRICS]
    table = grouped.agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    table["n_runs"] = runs.groupby(KEYS, sort=False).size()
    return table.reset_index()


def paper_table(summary: pd.DataFrame, method: str = "ga") -> pd.DataFrame:
    """Rows = datasets, columns = encodings, cells "acc +- std (active %)", as in the paper."""
    chosen = summary[summary["method"] == method]
    cells = {}
    for _, row in chosen.iterrows():
        std = 0.0 if np.isnan(row["test_accuracy_std"]) else row["test_accuracy_std"]
        cells.setdefault(row["dataset"], {})[row["encoding"]] = (
            f"{row['test_accuracy_mean']:.3f} ± {std:.3f} ({row['active_percent_mean']:.0f}%)")
    order = [e for e in ENCODINGS if e in set(chosen["encoding"])]
    return pd.DataFrame.from_dict(cells, orient="index")[order].rename_axis("dataset")


def method_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Rows = dataset x encoding, columns = methods, cells "test acc +- std"."""
    frame = summary.copy()
    frame["cell"] = [f"{m:.3f} ± {0.0 if np.isnan(s) else s:.3f}"
                     for m, s in zip(frame["test_accuracy_mean"], frame["test_accuracy_std"])]
    table = frame.pivot(index=["dataset", "encoding"], columns="method", values="cell")
    order = [m for m in METHODS if m in table.columns]
    return table[order]


def to_markdown(table: pd.DataFrame) -> str:
    """GitHub Markdown of a table (index included), without extra dependencies."""
    frame = table.reset_index()
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def to_latex(table: pd.DataFrame, caption: str = "") -> str:
    """A LaTeX tabular of a table (index included)."""
    frame = table.reset_index()
    escape = lambda text: str(text).replace("_", r"\_").replace("%", r"\%").replace("±", r"$\pm$")  # noqa: E731
    lines = [r"\begin{table}[t]", r"\centering", r"\begin{tabular}{" + "l" * len(frame.columns) + "}",
             r"\hline", " & ".join(escape(c) for c in frame.columns) + r" \\", r"\hline"]
    lines += [" & ".join(escape(_cell(v)) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}"]
    if caption:
        lines.append(r"\caption{" + escape(caption) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.4g}"
    return str(value)


def write_report(paths, out: str, caption: str = "") -> dict:
    """Write runs.csv, summary.csv and the paper/method tables as .md/.csv/.tex under ``out``."""
    os.makedirs(out, exist_ok=True)
    runs = collect(paths)
    summary = aggregate(runs)
    runs.to_csv(os.path.join(out, "runs.csv"), index=False)
    summary.to_csv(os.path.join(out, "summary.csv"), index=False)
    tables = {"paper_table": paper_table(summary), "method_table": method_table(summary)}
    for name, table in tables.items():
        table.to_csv(os.path.join(out, f"{name}.csv"))
        with open(os.path.join(out, f"{name}.md"), "w") as stream:
            stream.write(to_markdown(table))
        with open(os.path.join(out, f"{name}.tex"), "w") as stream:
            stream.write(to_latex(table, caption))
    return {"runs": runs, "summary": summary, **tables}
