"""Pandas tables from run directories (no Keras, no DEAP).

A run directory holds ``summary.json`` and ``evaluations.csv`` (the GA) and,
after a campaign, ``baselines.csv``. :func:`collect` makes one row per run and
method; :func:`aggregate` gives mean and std over seeds per dataset x encoding x
method; :func:`paper_table` lays it out as the paper's result table.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import pandas as pd

from ..config import ENCODINGS
from ..errors import RunDirectoryError
from ..records.directory import RunDirectory
from ..records.summary import METHODS
from ..search.ranking import best_index

KEYS = ["dataset", "protocol", "encoding", "method"]
METRICS = [
    "test_accuracy",
    "val_accuracy",
    "holdout_accuracy",
    "optimism",
    "fitness",
    "active_percent",
    "evaluations",
    "wall_seconds",
]


def find_run_dirs(paths) -> list[str]:
    """Every finished run directory (with a summary) under ``paths``, sorted."""
    found = set()
    for path in paths:
        if not os.path.exists(path):
            raise RunDirectoryError(
                f"Run directory {path!r} does not exist; pass run directories (`evoprune run` prints each) "
                "or the folder holding them."
            )
        for root, _dirs, files in os.walk(path):
            if RunDirectory.SUMMARY in files:
                found.add(root)
    if not found:
        raise RunDirectoryError(
            f"No finished run ({RunDirectory.SUMMARY}) under {', '.join(map(str, paths))}; finish a run "
            "with `evoprune run` (or `evoprune run --resume RUN_DIR`), or pass the folder that holds them."
        )
    return sorted(found)


def best_evaluation(evaluations: pd.DataFrame) -> pd.Series:
    """The best row of an evaluations table: highest fitness, ties to fewer active units."""
    ordered = evaluations.sort_values("evaluation")
    return ordered.iloc[best_index(ordered["fitness"], ordered["n_active"])]


def collect(paths) -> pd.DataFrame:
    """One row per (run, method): the GA from its evaluations.csv (fitness, active %,
    evaluations) and summary.json (accuracies of the retrained best head; method
    ``nsga2`` for a multi-objective run, whose best is its front's most accurate
    member), baselines from baselines.csv.

    Random-mask baselines are averaged over their draws within a run.
    """
    rows = []
    for run_dir in find_run_dirs(paths):
        directory = RunDirectory(run_dir)
        summary = directory.read_summary()
        base = {
            "run_dir": run_dir,
            "dataset": summary.source,
            "encoding": summary.encoding,
            "seed": summary.seed,
            "protocol": summary.protocol,
        }
        evaluations = directory.read_evaluations()
        best = best_evaluation(evaluations)
        holdout = np.nan if summary.holdout_accuracy is None else summary.holdout_accuracy
        method = "nsga2" if summary.objectives else "ga"  # NSGA-II: its front's most accurate member
        rows.append(
            {
                **base,
                "method": method,
                "test_accuracy": summary.test_accuracy,
                "val_accuracy": summary.val_accuracy,
                "holdout_accuracy": holdout,
                "fitness": best["fitness"],
                "active_percent": best["active_percent"],
                "evaluations": len(evaluations),
                "wall_seconds": summary.wall_seconds,
            }
        )
        baselines = directory.read_baselines()
        if baselines is not None:
            for method, group in baselines.groupby("method", sort=False):
                rows.append(
                    {
                        **base,
                        "method": method,
                        "test_accuracy": group["test_accuracy"].mean(),
                        "val_accuracy": group["val_accuracy"].mean(),
                        "holdout_accuracy": group["holdout_accuracy"].mean()
                        if "holdout_accuracy" in group
                        else np.nan,
                        "fitness": np.nan,
                        "active_percent": group["active_percent"].mean(),
                        "evaluations": np.nan,
                        "wall_seconds": np.nan,
                    }
                )
    runs = pd.DataFrame(rows)
    runs["optimism"] = runs["test_accuracy"] - runs["holdout_accuracy"]
    return runs


def aggregate(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean, std and count over seeds per dataset x encoding x method."""
    grouped = runs.groupby(KEYS, sort=False)[METRICS]
    table = grouped.agg(["mean", "std"])
    table.columns = [f"{metric}_{stat}" for metric, stat in table.columns]
    table["n_runs"] = runs.groupby(KEYS, sort=False).size()
    return table.reset_index()


def _mean_std(mean: float, std: float) -> str:
    """``"0.760 ± 0.004"``; one seed has no spread: ``"0.760 (1 seed)"``, never a made-up ``± 0.000``."""
    return f"{mean:.3f} (1 seed)" if np.isnan(std) else f"{mean:.3f} ± {std:.3f}"


def paper_table(summary: pd.DataFrame, method: str = "ga") -> pd.DataFrame:
    """Rows = datasets, columns = encodings, cells "acc +- std (active %)", as in the paper.

    Runs under the paper protocol get their own row, "<dataset> (paper protocol)".
    """
    chosen = summary[summary["method"] == method]
    cells = {}
    for _, row in chosen.iterrows():
        name = (
            row["dataset"]
            if row["protocol"] == "honest"
            else f"{row['dataset']} ({row['protocol']} protocol)"
        )
        cells.setdefault(name, {})[row["encoding"]] = (
            f"{_mean_std(row['test_accuracy_mean'], row['test_accuracy_std'])} "
            f"({row['active_percent_mean']:.0f}%)"
        )
    order = [e for e in ENCODINGS if e in set(chosen["encoding"])]
    return pd.DataFrame.from_dict(cells, orient="index")[order].rename_axis("dataset")


def method_table(summary: pd.DataFrame, differences: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows = dataset x protocol x encoding, columns = methods, cells "test acc +- std".

    With ``differences`` (:func:`~evoprune_deap.report.statistics.paired_differences`),
    each baseline's cell adds the GA's paired difference to it in accuracy
    points, its 95% t interval and the paired t-test p-value, and a last
    column says which baselines the GA differs from detectably.
    """
    from .statistics import NO_DIFFERENCE, TOO_FEW, difference_cell

    index = ["dataset", "protocol", "encoding"]
    frame = summary.copy()
    frame["cell"] = [_mean_std(m, s) for m, s in zip(frame["test_accuracy_mean"], frame["test_accuracy_std"])]
    if differences is not None and len(differences):
        paired = differences.set_index([*index, "method"])
        for i, row in frame.iterrows():
            key = tuple(row[k] for k in index) + (row["method"],)
            if key in paired.index:
                frame.loc[i, "cell"] += f" ({difference_cell(paired.loc[key])})"
    table = frame.pivot(index=index, columns="method", values="cell")
    table = table[[m for m in METHODS if m in table.columns]]
    if differences is not None and len(differences):
        detected = {}
        for key, group in differences.groupby(index, sort=False):
            found = [f"{m}: {v}" for m, v in zip(group["method"], group["verdict"]) if v != NO_DIFFERENCE]
            if set(group["verdict"]) == {TOO_FEW}:
                found = [TOO_FEW]
            detected[key] = "; ".join(found) or f"{NO_DIFFERENCE} from any baseline"
        table["paired verdict (95%)"] = [detected.get(key, "") for key in table.index]
    return table


def optimism_table(runs: pd.DataFrame) -> pd.DataFrame:
    """The optimism audit: the GA's reported test accuracy against a hold-out no selection saw.

    Rows = dataset x encoding x protocol (runs with a hold-out only). Columns,
    mean ± std over seeds: the GA's reported test accuracy, its hold-out
    accuracy, the optimism (their difference), the unpruned head's optimism
    (the two sets' difference in difficulty, with no selection at all), and
    the GA's gain over the unpruned head on test and on the hold-out: under
    the paper protocol, the part of the test gain that the hold-out does not
    repeat is what selecting on test added.
    """
    audited = runs[runs["holdout_accuracy"].notna()]
    keys = ["dataset", "protocol", "encoding", "seed"]
    ga = audited[audited["method"] == "ga"].set_index(keys)
    unpruned = audited[audited["method"] == "unpruned"].set_index(keys)
    rows = []
    for (dataset, encoding, protocol), group in ga.reset_index().groupby(
        ["dataset", "encoding", "protocol"], sort=True
    ):
        row = {
            "dataset": dataset,
            "encoding": encoding,
            "protocol": protocol,
            "seeds": len(group),
            "reported test": _mean_std(group["test_accuracy"].mean(), group["test_accuracy"].std()),
            "hold-out": _mean_std(group["holdout_accuracy"].mean(), group["holdout_accuracy"].std()),
            "optimism": _signed(group["optimism"]),
        }
        paired = group.set_index(keys).join(
            unpruned[["test_accuracy", "holdout_accuracy", "optimism"]], rsuffix="_unpruned", how="inner"
        )
        if len(paired):
            row["unpruned optimism"] = _signed(paired["optimism_unpruned"])
            row["gain over unpruned, test"] = _signed(
                paired["test_accuracy"] - paired["test_accuracy_unpruned"]
            )
            row["gain over unpruned, hold-out"] = _signed(
                paired["holdout_accuracy"] - paired["holdout_accuracy_unpruned"]
            )
        rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "encoding", "protocol"]) if rows else pd.DataFrame()


def front_table(along: pd.DataFrame, differences: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x encoding x protocol x metric: the front members' mean accuracy and active %, then
    front minus each baseline at the same sparsity (mean [95% CI], Holm-adjusted p over the table)."""
    rows = []
    for key, group in differences.groupby(["dataset", "protocol", "encoding", "metric"], sort=False):
        runs = along[
            (along["dataset"] == key[0])
            & (along["protocol"] == key[1])
            & (along["encoding"] == key[2])
            & (along["method"] == "nsga2")
        ]
        row = {
            "dataset": key[0],
            "protocol": key[1],
            "encoding": key[2],
            "metric": key[3],
            "seeds": len(runs),
            "front_active_percent": round(float(runs["active_percent"].mean()), 2),
            "front_accuracy": round(float(runs[key[3]].mean()), 4),
        }
        for _, diff in group.iterrows():
            row[f"minus_{diff['method']}"] = _front_cell(diff)
        rows.append(row)
    return pd.DataFrame(rows).set_index(["dataset", "protocol", "encoding", "metric"])


def _front_cell(diff) -> str:
    """``"+1.7 [-0.2, +3.5] p_holm 0.41"``; under :data:`MIN_SEEDS` seeds no interval: ``"+1.7 (n=1)"``."""
    from .statistics import MIN_SEEDS

    mean = f"{100 * diff['mean_difference']:+.1f}"
    if diff["n_seeds"] < MIN_SEEDS:
        return f"{mean} (n={int(diff['n_seeds'])})"
    return f"{mean} [{100 * diff['ci_low']:+.1f}, {100 * diff['ci_high']:+.1f}] p_holm {diff['p_holm']:.2f}"


def _signed(values: pd.Series) -> str:
    std = values.std()
    spread = " pt (1 seed)" if np.isnan(std) else f" ± {100 * std:.1f} pt"
    return f"{100 * values.mean():+.1f}{spread}"


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
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\begin{tabular}{" + "l" * len(frame.columns) + "}",
        r"\hline",
        " & ".join(escape(c) for c in frame.columns) + r" \\",
        r"\hline",
    ]
    lines += [" & ".join(escape(_cell(v)) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}"]
    if caption:
        lines.append(r"\caption{" + escape(caption) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_csvs(out: str, tables: dict) -> list[str]:
    """Each ``{name: DataFrame}`` as ``out/name.csv`` (no index); the paths written."""
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, f"{name}.csv") for name in tables]
    for path, table in zip(paths, tables.values()):
        table.to_csv(path, index=False)
    return paths


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if np.isnan(value) else f"{value:.4g}"
    return str(value)


def write_report(paths, out: str, caption: str = "") -> dict:
    """Write runs.csv, summary.csv, differences.csv and the paper, method (and, where runs hold data
    out, optimism; where runs are multi-objective, Pareto and front-against-baselines; where runs were
    exported, export) tables as .md/.csv/.tex under ``out``; a table with no row is neither written nor
    returned (a campaign of multi-objective runs has no paper table)."""
    from .exports import export_rows
    from .pareto import front_runs, pareto_rows, pareto_table
    from .statistics import holm, paired_differences

    runs = collect(paths)  # first: a bad path writes nothing
    os.makedirs(out, exist_ok=True)
    summary = aggregate(runs)
    differences = paired_differences(runs)
    if runs["holdout_accuracy"].notna().any():  # the same pairs on the hold-out (the optimism audit)
        held_out = paired_differences(runs, "holdout_accuracy")
        if len(held_out):  # concatenating an empty frame warns on pandas 2.1-2.x
            differences = pd.concat([differences, held_out], ignore_index=True)
    runs.to_csv(os.path.join(out, "runs.csv"), index=False)
    summary.to_csv(os.path.join(out, "summary.csv"), index=False)
    differences.to_csv(os.path.join(out, "differences.csv"), index=False)
    on_test = differences[differences["metric"] == "test_accuracy"]
    tables = {"paper_table": paper_table(summary), "method_table": method_table(summary, on_test)}
    audit = optimism_table(runs)
    if len(audit):
        tables["optimism_table"] = audit
    fronts = pareto_rows(runs["run_dir"].unique())
    if len(fronts):
        tables["pareto_table"] = pareto_table(fronts)
    exported = export_rows(runs["run_dir"].unique())
    if len(exported):
        tables["export_table"] = exported.set_index(["run_dir", "model"])
    along = front_runs(runs["run_dir"].unique())
    if len(along):  # the front against one-shot pruning at the members' own sparsities, paired by seed
        metrics = ["test_accuracy"] + (
            ["holdout_accuracy"] if along["holdout_accuracy"].notna().any() else []
        )
        front_differences = pd.concat(
            [paired_differences(along, metric, reference="nsga2") for metric in metrics], ignore_index=True
        )
        front_differences["p_holm"] = holm(front_differences["p_value"].to_numpy(dtype=float))
        front_differences.to_csv(os.path.join(out, "front_differences.csv"), index=False)
        tables["front_table"] = front_table(along, front_differences)
    for name in [name for name, table in tables.items() if not len(table)]:  # e.g. no GA run: no paper table
        del tables[name]
        for suffix in (".csv", ".md", ".tex"):  # nor one left by an earlier report in this folder
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(out, name + suffix))
    for name, table in tables.items():
        table.to_csv(os.path.join(out, f"{name}.csv"))
        with open(os.path.join(out, f"{name}.md"), "w") as stream:
            stream.write(to_markdown(table))
        with open(os.path.join(out, f"{name}.tex"), "w") as stream:
            stream.write(to_latex(table, caption))
    return {"runs": runs, "summary": summary, "differences": differences, **tables}
