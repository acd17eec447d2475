"""Figures drawn from saved tables (no retraining), scikit-learn Display style."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from ..records.directory import RunDirectory
from ..search.ranking import best_so_far_index


def best_so_far(evaluations: pd.DataFrame) -> np.ndarray:
    """Running maximum of the ``fitness`` column, in evaluation order."""
    return np.maximum.accumulate(evaluations.sort_values("evaluation")["fitness"].to_numpy())


CJK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
)
"""Fonts with Chinese, Japanese and Korean glyphs, tried after DejaVu Sans where installed (a dataset or class
name may be written in them)."""


def _pyplot():
    """matplotlib.pyplot on a file-only backend (no screen needed); text falls back to an installed CJK font,
    and where none is, a missing glyph is drawn as a box without a warning per character."""
    import warnings

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    fallback = [name for name in CJK_FONTS if name in installed]
    if fallback and fallback[0] not in matplotlib.rcParams["font.sans-serif"]:
        matplotlib.rcParams["font.sans-serif"] = [*matplotlib.rcParams["font.sans-serif"], *fallback]
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
    return plt


UNPRUNED_LABEL = "unpruned head"
_PYPLOT_LOCK = threading.Lock()
"""pyplot is not thread-safe; a campaign finishes several multi-objective runs at once."""


def plot_convergence(
    evaluations: pd.DataFrame, ax=None, label: str | None = None, unpruned: float | None = None
):
    """Best-so-far fitness vs evaluations (one line per run), as in the paper.

    ``unpruned``: the unpruned head's score on the fitness's data (validation,
    or test under the paper protocol), drawn dashed, so a reader sees whether
    the GA ever beat it.
    """
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(6, 4))
    ordered = evaluations.sort_values("evaluation")
    ax.plot(ordered["evaluation"], best_so_far(ordered), label=label or "best so far", drawstyle="steps-post")
    ax.scatter(ordered["evaluation"], ordered["fitness"], s=6, alpha=0.35)
    if unpruned is not None:
        ax.axhline(unpruned, color="grey", linestyle="--", linewidth=1, label=UNPRUNED_LABEL)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("fitness (best so far)")
    ax.grid(alpha=0.3)
    if label or unpruned is not None:
        ax.legend(fontsize=8)
    return ax


def save_convergence(
    evaluations: pd.DataFrame, path: str, title: str = "", unpruned: float | None = None
) -> None:
    """Draw :func:`plot_convergence` of one run into the PNG file ``path`` (one figure at a time)."""
    with _PYPLOT_LOCK:
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        plot_convergence(evaluations, ax=ax, unpruned=unpruned)
        ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def unpruned_fitness(summary) -> float:
    """The unpruned head's score on the data the run's fitness reads (test under the paper protocol)."""
    return summary.unpruned_test_accuracy if summary.protocol == "paper" else summary.unpruned_val_accuracy


FRONT_PANELS = {  # objectives -> (x, y) column pairs of front.png
    ("accuracy", "active"): [("active_percent", "accuracy")],
    ("accuracy", "ood"): [("accuracy", "ood_auroc")],
    ("accuracy", "active", "ood"): [
        ("active_percent", "accuracy"),
        ("active_percent", "ood_auroc"),
        ("accuracy", "ood_auroc"),
    ],
}
AXIS_LABELS = {"active_percent": "active units (%)", "accuracy": "accuracy", "ood_auroc": "OOD AUROC"}


def plot_front(front: pd.DataFrame, baselines: pd.DataFrame | None, summary, objectives: tuple):
    """The Pareto front as the GA saw it (one panel per pair of objectives), with its members' test figures.

    On the accuracy-against-active panel, the unpruned head and the pruning
    baselines scored at the front's sparsities are marked, on the same data
    as the GA's accuracy (validation, or test under the paper protocol).
    """
    plt = _pyplot()
    panels = FRONT_PANELS[tuple(objectives)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    data = "test" if summary.protocol == "paper" else "validation"
    ordered = front.sort_values("active_percent")
    style = "o-" if len(objectives) == 2 else "o"  # a 2-D view of a 3-objective front is no staircase
    for ax, (x, y) in zip(axes[0], panels):
        ax.plot(ordered[x], ordered[y], style, label=f"front ({data})", zorder=3)
        test_x = ordered["test_accuracy"] if x == "accuracy" else ordered[x]
        test_y = {"accuracy": "test_accuracy", "ood_auroc": "test_ood_auroc"}[y]
        ax.scatter(test_x, ordered[test_y], facecolors="none", edgecolors="C0", label="front members on test")
        if (x, y) == ("active_percent", "accuracy"):
            ax.scatter(
                [100.0],
                [unpruned_fitness(summary)],
                marker="*",
                s=160,
                color="black",
                label=UNPRUNED_LABEL,
                zorder=4,
            )
            column = "test_accuracy" if summary.protocol == "paper" else "val_accuracy"
            pruning = (
                baselines[~baselines["method"].isin(["unpruned", "linear_probe"])]
                if baselines is not None and len(baselines)
                else None
            )
            for k, (method, rows) in enumerate(
                () if pruning is None else pruning.groupby("method", sort=True)
            ):
                ax.scatter(
                    rows["active_percent"],
                    rows[column],
                    marker="xv^s+"[k % 5],
                    color=f"C{k + 1}",
                    label=method.replace("_", " "),
                )
        ax.set_xlabel(AXIS_LABELS[x])
        ax.set_ylabel(AXIS_LABELS[y])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def save_front(
    front: pd.DataFrame, baselines, summary, objectives: tuple, path: str, title: str = ""
) -> None:
    """Draw :func:`plot_front` into the PNG file ``path`` (one figure at a time: runs finish in threads)."""
    with _PYPLOT_LOCK:
        plt = _pyplot()
        fig = plot_front(front, baselines, summary, objectives)
        fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def plot_hypervolume(curves: dict):
    """Hypervolume of everything evaluated so far against evaluations: ``{label: Logbook rows}``, one line
    each."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, logbook in curves.items():
        ax.plot(
            [row["evaluation"] for row in logbook],
            [row["hypervolume"] for row in logbook],
            drawstyle="steps-post",
            label=label,
        )
    ax.set_xlabel("evaluations")
    ax.set_ylabel("hypervolume (reference: accuracy 0, active 100%, AUROC 0)", fontsize=8)
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def save_hypervolume(logbook: list, path: str, title: str = "") -> None:
    """Draw one run's :func:`plot_hypervolume` (its Logbook rows) into the PNG file ``path``."""
    with _PYPLOT_LOCK:
        plt = _pyplot()
        fig = plot_hypervolume({title: logbook})
        fig.axes[0].set_title(title)
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _panels(runs: pd.DataFrame):
    """(dataset, encoding) -> list of GA run directories; "<encoding> (paper)" for paper-protocol runs,
    "<encoding> (nsga2)" for multi-objective ones."""
    ga = runs[runs["method"].isin(["ga", "nsga2"])]
    panels = {}
    for (dataset, protocol, encoding, method), group in ga.groupby(
        ["dataset", "protocol", "encoding", "method"], sort=True
    ):
        tags = [
            tag
            for tag in (protocol if protocol != "honest" else None, method if method != "ga" else None)
            if tag
        ]
        name = f"{encoding} ({', '.join(tags)})" if tags else encoding
        panels[dataset, name] = list(group["run_dir"])
    return panels


def plot_differences(differences: pd.DataFrame):
    """GA minus each baseline in accuracy points, mean and 95% interval, one panel per dataset x protocol x
    encoding.

    ``differences`` is :func:`~evoprune_deap.report.statistics.paired_differences`;
    an interval crossing the dashed zero line is "no detectable difference".
    """
    plt = _pyplot()
    groups = list(differences.groupby(["dataset", "protocol", "encoding"], sort=True))
    fig, axes = plt.subplots(
        1, max(len(groups), 1), figsize=(3.6 * max(len(groups), 1), 3.2), squeeze=False, sharex=True
    )
    for ax, ((dataset, protocol, encoding), group) in zip(axes[0], groups):
        y = np.arange(len(group))
        mean = 100 * group["mean_difference"].to_numpy()
        error = np.abs(100 * group[["ci_low", "ci_high"]].to_numpy().T - mean)
        ax.errorbar(mean, y, xerr=np.nan_to_num(error), fmt="o", capsize=3)
        ax.axvline(0, color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(y, group["method"], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"{dataset} {encoding}" + ("" if protocol == "honest" else f" ({protocol})"), fontsize=9)
        ax.set_xlabel("GA - baseline, test acc. (points)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_campaign_convergence(runs: pd.DataFrame, column: str = "fitness"):
    """One panel per dataset x encoding, one line per run.

    ``column="fitness"``: best-so-far fitness; ``column="active_percent"``:
    active % of the best-so-far individual.
    """
    plt = _pyplot()
    panels = _panels(runs)
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
    for ax, ((dataset, encoding), run_dirs) in zip(axes[0], panels.items()):
        for run_dir in run_dirs:
            table = RunDirectory(run_dir).read_evaluations().sort_values("evaluation")
            best_index = best_so_far_index(table["fitness"], table["n_active"])
            values = best_so_far(table) if column == "fitness" else table[column].to_numpy()[best_index]
            ax.plot(
                table["evaluation"], values, drawstyle="steps-post", label=run_dir.rstrip("/").split("/")[-1]
            )
        if column == "fitness":  # the unpruned head on the fitness's data, mean over the runs
            summaries = [RunDirectory(run_dir).read_summary() for run_dir in run_dirs]
            ax.axhline(
                np.mean([unpruned_fitness(s) for s in summaries]),
                color="grey",
                linestyle="--",
                linewidth=1,
                label=UNPRUNED_LABEL,
            )
        ax.set_title(f"{dataset} {encoding}")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("best-so-far fitness" if column == "fitness" else "active % of best")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_kept_units(masks: dict, title: str = ""):
    """Heatmap: rows = runs, columns = units, dark = kept by the best mask."""
    plt = _pyplot()
    names = sorted(masks)
    matrix = np.stack([masks[name] for name in names]).astype(float)
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(names) + 1.4))
    ax.imshow(matrix, aspect="auto", cmap="Greys", interpolation="nearest", vmin=0, vmax=1)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    kept_by_none = int((~matrix.astype(bool)).all(0).sum())
    ax.set_xlabel(f"unit (kept by all runs: {int(matrix.all(0).sum())}, by none: {kept_by_none})")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def write_plots(paths, out: str) -> list[str]:
    """Convergence, active %, paired differences and kept-unit heatmaps for the runs under ``paths``."""
    import os
    import re

    from .tables import collect

    plt = _pyplot()
    runs = collect(paths)  # first: a bad path writes nothing
    os.makedirs(out, exist_ok=True)
    written = []
    for column, name in (("fitness", "convergence.png"), ("active_percent", "active_percent.png")):
        fig = plot_campaign_convergence(runs, column)
        fig.savefig(os.path.join(out, name), dpi=120)
        plt.close(fig)
        written.append(os.path.join(out, name))
    from .statistics import paired_differences

    differences = paired_differences(runs)  # on test accuracy
    if len(differences):
        fig = plot_differences(differences)
        fig.savefig(os.path.join(out, "differences.png"), dpi=120)
        plt.close(fig)
        written.append(os.path.join(out, "differences.png"))
    for (dataset, encoding), run_dirs in _panels(runs).items():
        masks = {}
        for run_dir in run_dirs:
            masks[os.path.basename(run_dir.rstrip("/"))] = RunDirectory(run_dir).read_best_mask()
        fig = plot_kept_units(masks, f"{dataset} {encoding}: units kept by the best masks")
        path = os.path.join(
            out, f"kept_units_{dataset}_{re.sub('[^A-Za-z0-9]+', '_', encoding).strip('_')}.png"
        )
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written + _write_front_plots(runs["run_dir"].unique(), out)


def _write_front_plots(run_dirs, out: str) -> list[str]:
    """For multi-objective runs: each run's front, and every run's hypervolume curve in one figure."""
    import json
    import os

    plt = _pyplot()
    written, curves = [], {}
    for run_dir in run_dirs:
        directory = RunDirectory(run_dir)
        if not directory.has(directory.FRONT):
            continue
        summary = directory.read_summary()
        name = f"{summary.source}_{summary.encoding}_seed{summary.seed}"
        baselines = (
            pd.read_csv(directory.file(directory.FRONT_BASELINES))
            if directory.has(directory.FRONT_BASELINES)
            else None
        )
        path = os.path.join(out, f"front_{name}.png")
        save_front(
            directory.read_front(),
            baselines,
            summary,
            tuple(summary.objectives),
            path,
            f"{summary.source} {summary.encoding} seed {summary.seed}",
        )
        written.append(path)
        with open(directory.file(directory.LOGBOOK)) as stream:
            curves[name] = json.load(stream)
    if curves:
        fig = plot_hypervolume(curves)
        path = os.path.join(out, "hypervolume.png")
        fig.savefig(path, dpi=120)
        plt.close(fig)
        written.append(path)
    return written
