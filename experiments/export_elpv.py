"""Issue 23's end-to-end proof: exported image-to-class models against the two-stage pipeline, on ELPV.

    python experiments/export_elpv.py [--out results/export]

Makes (or reuses) three quick ELPV runs (128 px, population 10, 40 evaluations, 60 epochs, seed 0):
`fc1`, `fs`, and NSGA-II (accuracy, active) on `fc1`, whose knee member (`evoprune select --knee`)
and 50-100 ensemble (`evoprune ensemble`) are exported too. Each model is exported with `evoprune
export` as .keras (images of any size), LiteRT float32, int8 (dynamic range) and float16 (images
at 128 px), and LiteRT float32 for 300 x 300 images (`--input-size 300x300`); every one runs in a
fresh process (the .tflite ones without Keras or evoprune_deap) on the 525 test images:
- at the cache's 128 px (the pixels the features were made from), against the two-stage pipeline
  (cached features -> the saved head), class by class;
- raw, at their own 300 px, resized in the model by PIL's antialiasing bilinear filter, as the cache was;
- int8 and float16 against float32.
The `fs` model with its channels removed is also compared with the unsliced backbone whose pooled
features are sliced (probabilities to 1e-5). Writes OUT/agreement.csv and .md, OUT/disagreements.csv.
"""

import argparse
import os
import sys

import pandas as pd

from evoprune_deap.cli import main
from evoprune_deap.report.tables import to_markdown
from evoprune_deap.shipping.deploy_check import agreement, split_images, two_stage
from evoprune_deap.shipping.export import export_model
from evoprune_deap.shipping.litert import predict
from evoprune_deap.storage import write_text

HERE = os.path.dirname(os.path.abspath(__file__))
RAW_SIZE = 300  # ELPV's images are 300 x 300


def _runs(out: str) -> dict:
    """Run directory per encoding, made if missing (finished runs are reused)."""
    runs = {}
    for name, extra in [
        ("fc1", ["--encoding", "fc1"]),
        ("fs", ["--encoding", "fs"]),
        ("nsga2", ["--encoding", "fc1", "--objectives", "accuracy,active"]),
    ]:
        run_dir = os.path.join(out, "runs", name)
        if not os.path.exists(os.path.join(run_dir, "summary.json")):
            start = (
                ["--resume", run_dir]
                if os.path.exists(os.path.join(run_dir, "config.toml"))
                else [
                    "--config",
                    os.path.join(HERE, "elpv.toml"),
                    "--seed",
                    "0",
                    "--run-dir",
                    run_dir,
                    *extra,
                ]
            )
            if main(["-q", "run", *start]) != 0:
                sys.exit(1)
        runs[name] = run_dir
    return runs


def _selected(run_dir: str) -> dict:
    """The knee member and the 50-100 ensemble of a multi-objective run, as saved heads (made if missing)."""
    knee = os.path.join(run_dir, "selected", "knee.keras")
    ensemble = os.path.join(run_dir, "ensemble", "ensemble_50-100.keras")
    if not os.path.exists(knee) and main(["-q", "select", run_dir, "--knee", "--out", knee]) != 0:
        sys.exit(1)
    if not os.path.exists(ensemble) and main(["-q", "ensemble", run_dir, "--window", "50-100"]) != 0:
        sys.exit(1)
    return {"nsga2 knee": knee, "nsga2 ensemble 50-100": ensemble}


def run(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("results", "export"))
    args = parser.parse_args(argv)
    runs = _runs(args.out)
    heads = {
        "fc1 best": (runs["fc1"], os.path.join(runs["fc1"], "best_head.keras")),
        "fs best": (runs["fs"], os.path.join(runs["fs"], "best_head.keras")),
        **{name: (runs["nsga2"], path) for name, path in _selected(runs["nsga2"]).items()},
    }
    rows, exceptions = [], []
    for name, (run_dir, head) in heads.items():
        images, features, labels = split_images(run_dir)
        raw, _, _ = split_images(run_dir, RAW_SIZE)
        reference = two_stage(head, features)
        selected = None if head.endswith("best_head.keras") else head
        stem = os.path.join(args.out, "models", name.replace(" ", "_"))
        paths = {}
        for key, fmt, quantize, input_size, suffix in [
            ("keras", "keras", "none", None, ".keras"),
            ("litert", "litert", "none", None, ".tflite"),
            ("int8", "litert", "dynamic", None, "_int8.tflite"),
            ("fp16", "litert", "float16", None, "_fp16.tflite"),
            ("litert raw", "litert", "none", (RAW_SIZE, RAW_SIZE), f"_{RAW_SIZE}px.tflite"),
        ]:
            paths[key] = stem + suffix
            if not os.path.exists(stem + suffix):
                export_model(
                    run_dir,
                    selected=selected,
                    format=fmt,
                    quantize=quantize,
                    out=stem + suffix,
                    input_size=input_size,
                )
        record = pd.read_json(paths["keras"] + ".json", typ="series")
        outputs = {key: predict(path, images) for key, path in paths.items() if key != "litert raw"}
        raw_out = {key: predict(paths[key], raw) for key in ("keras", "litert raw")}
        comparisons = [
            ("keras, 128 px", "two-stage", reference, outputs["keras"]),
            ("litert float32, 128 px", "two-stage", reference, outputs["litert"]),
            ("litert int8, 128 px", "litert float32", outputs["litert"]["probabilities"], outputs["int8"]),
            ("litert float16, 128 px", "litert float32", outputs["litert"]["probabilities"], outputs["fp16"]),
            ("keras, raw 300 px", "two-stage", reference, raw_out["keras"]),
            ("litert float32, raw 300 px", "two-stage", reference, raw_out["litert raw"]),
        ]
        for model, against, ref, got in comparisons:
            found = agreement(ref, got["probabilities"], labels)
            rows.append(
                {
                    "model": name,
                    "feature_selection": record["feature_selection"],
                    "active_features": record["active_features"],
                    "exported": model,
                    "against": against,
                    "runtime": got["runtime"],
                    "imports": " ".join(got["modules"]) or "-",
                    "images": found["n"],
                    "same_class": found["agree"],
                    "differing": len(found["disagreements"]),
                    "max_abs_prob_difference": found["max_abs_difference"],
                    "accuracy": found["accuracy"],
                    "reference_accuracy": found["reference_accuracy"],
                }
            )
            exceptions += [
                {"model": name, "exported": model, "against": against, **d} for d in found["disagreements"]
            ]
        if record["feature_selection"] == "folded":
            unfolded = stem + "_unfolded.keras"
            if not os.path.exists(unfolded):
                export_model(run_dir, selected=selected, out=unfolded, fold=False)
            found = agreement(
                predict(unfolded, images)["probabilities"], outputs["keras"]["probabilities"], labels
            )
            rows.append(
                {
                    "model": name,
                    "feature_selection": "folded",
                    "active_features": record["active_features"],
                    "exported": "keras, channels removed, 128 px",
                    "against": "keras, whole backbone, sliced features",
                    "runtime": outputs["keras"]["runtime"],
                    "imports": "keras",
                    "images": found["n"],
                    "same_class": found["agree"],
                    "differing": len(found["disagreements"]),
                    "max_abs_prob_difference": found["max_abs_difference"],
                    "accuracy": found["accuracy"],
                    "reference_accuracy": found["reference_accuracy"],
                }
            )
    table = pd.DataFrame(rows)
    os.makedirs(args.out, exist_ok=True)
    write_text(os.path.join(args.out, "agreement.csv"), table.to_csv(index=False))
    write_text(os.path.join(args.out, "agreement.md"), to_markdown(table) + "\n")
    write_text(os.path.join(args.out, "disagreements.csv"), pd.DataFrame(exceptions).to_csv(index=False))
    print(to_markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(run())
