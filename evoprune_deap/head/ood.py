"""Out-of-distribution detection by a head's confidence: scores and AUROC.

MO-EvoPruneDeepTL scores an image by its maximum softmax probability with
temperature scaling (T = 1000, after ODIN); the energy score
(``T * logsumexp(logits / T)``, Liu et al. 2020; T = 1 is the usual choice)
is the alternative. Higher means "in distribution". The AUROC of telling
in-distribution images from OOD ones by that score is scikit-learn's
``roc_auc_score`` (in-distribution = positive class): 0.5 is chance, 1 perfect.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp, softmax

from ..config import OOD_SCORES


def confidence(logits: np.ndarray, score: str = "msp", temperature: float = 1000.0) -> np.ndarray:
    """Per-row in-distribution score of ``logits`` (n, n_classes): ``"msp"`` or ``"energy"``."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    if score == "msp":
        return softmax(scaled, axis=1).max(axis=1)
    if score == "energy":
        return temperature * logsumexp(scaled, axis=1)
    raise ValueError(f"Unknown OOD score {score!r}; choose one of {OOD_SCORES}.")


def ood_auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """AUROC of separating in-distribution scores (positives) from OOD ones (scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    labels = np.concatenate([np.ones(len(in_scores)), np.zeros(len(out_scores))])
    return float(roc_auc_score(labels, np.concatenate([in_scores, out_scores])))
