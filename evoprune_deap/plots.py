"""Figures drawn from saved tables (no retraining), scikit-learn Display style."""

from __future__ import annotations

import numpy as np
import pandas as pd


def best_so_far(evaluations: pd.DataFrame) -> np.ndarray:
    """Running maximum of the ``fitness`` column, in evaluation order."""
    return np.maximum.accumulate(evaluations.sort_values("evaluation")["fitness"].to_numpy())


def plot_convergence(evaluations: pd.DataFrame, ax=None, label: str | None = None):
    """Best-so-far fitness vs evaluations (one line per run), as in the paper."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ordered = evaluations.sort_values("evaluation")
    ax.plot(ordered["evaluation"], best_so_far(ordered), label=label, drawstyle="steps-post")
    ax.scatter(ordered["evaluation"], ordered["fitness"], s=6, alpha=0.35)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("fitness (best so far)")
    ax.grid(alpha=0.3)
    if label:
        ax.legend()
    return ax


def save_convergence(evaluations: pd.DataFrame, path: str, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    plot_convergence(evaluations, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
