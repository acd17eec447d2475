"""The table of exported models (``evoprune export``): what each computes and what pruning removed.

One row per ``<run>/export/*.json`` sidecar: the run, the model file, format
and quantisation, which heads (best, a member, a select/ensemble file), the
feature-selection mode, and the parameters and multiply-adds per image of the
backbone and the heads, as exported and removed against the unpruned network.
"""

from __future__ import annotations

import glob
import json
import os

import pandas as pd

COSTS = (
    "backbone_parameters",
    "backbone_parameters_removed",
    "backbone_multiply_adds",
    "backbone_multiply_adds_removed",
    "head_parameters",
    "head_parameters_removed",
    "head_multiply_adds",
    "head_multiply_adds_removed",
)


def export_rows(run_dirs) -> pd.DataFrame:
    """One row per exported model of ``run_dirs`` (finished run directories); empty if none."""
    rows = []
    for run_dir in run_dirs:
        for path in sorted(glob.glob(os.path.join(run_dir, "export", "*.json"))):
            with open(path) as stream:
                record = json.load(stream)
            if "costs" not in record:
                continue
            rows.append(
                {
                    "run_dir": run_dir,
                    "model": os.path.basename(record["model"]),
                    "format": record["format"],
                    "quantize": record["quantize"],
                    "source": record["source"],
                    "encoding": record["encoding"],
                    "feature_selection": record["feature_selection"],
                    "active_features": record["active_features"],
                    **{name: record["costs"][name] for name in COSTS},
                    "file_MiB": round(record["file_bytes"] / 2**20, 2),
                }
            )
    return pd.DataFrame(rows)
