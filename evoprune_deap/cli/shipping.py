"""``evoprune select``, ``ensemble`` and ``export``: a run's heads as models to ship."""

from __future__ import annotations

from ..storage import check_file


def select(args) -> int:
    from ..shipping.members import export_member

    if args.out is not None:
        check_file(args.out, "--out")
    record = export_member(
        args.run_dir, max_active=args.max_active, min_accuracy=args.min_accuracy, knee=args.knee, out=args.out
    )
    print(
        f"{record['rule']}: member {record['mask_hash']}, {record['n_active']} active "
        f"({record['active_percent']:.1f}%), accuracy {record['accuracy']:.4f}; retrained: val "
        f"{record['val_accuracy']:.4f}, test {record['test_accuracy']:.4f}"
        + (f", test OOD AUROC {record['test_ood_auroc']:.4f}" if record["test_ood_auroc"] is not None else "")
        + f"\nsaved {record['model']} (and its .json)"
    )
    return 0


def ensemble(args) -> int:
    from ..report.tables import to_markdown
    from ..shipping.members import build_ensemble

    if args.out is not None:
        check_file(args.out, "--out")
    record = build_ensemble(args.run_dir, window=args.window, out=args.out)
    print(to_markdown(record["table"]))
    print(f"saved {record['model']} (and its .json, .csv)")
    return 0


def export(args) -> int:
    from ..shipping.export import export_model

    record = export_model(
        args.run_dir,
        member=args.member,
        selected=args.selected,
        format=args.format,
        quantize=args.quantize,
        out=args.out,
        input_size=args.input_size,
        force=args.force,
    )
    costs = record["costs"]
    print(
        f"{record['source']}: {record['n_heads']} head(s) on {record['active_features']} of the backbone's "
        f"features "
        f"({record['feature_selection']}); backbone {costs['backbone_parameters']:,} parameters "
        f"(-{costs['backbone_parameters_removed']:,}), head {costs['head_parameters']:,} "
        f"(-{costs['head_parameters_removed']:,}); {record['file_bytes'] / 2**20:.1f} MiB"
        f"\nsaved {record['model']} (and {record['model']}.json)"
    )
    return 0
