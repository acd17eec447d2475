"""The ``evoprune`` command (also ``python -m evoprune_deap``).

Errors a user can cause (:class:`EvopruneError`) print as one line on stderr
with exit code 2; the traceback appears only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from .errors import EvopruneError

logger = logging.getLogger("evoprune_deap")


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("image source")
    group.add_argument("--dataset", default=None,
                       help="built-in dataset: elpv (default) or fashion-mnist")
    group.add_argument("--images", metavar="DIR", default=None,
                       help="image folder: DIR/<class>/*.png, or fold folders DIR/0/<class>/...")
    group.add_argument("--test-images", metavar="DIR", default=None,
                       help="test image folder with the same class subfolders as --images")
    group.add_argument("--backbone", default="efficientnet_lite0",
                       help="efficientnet_lite0 (default, offline), resnet50, densenet121, vgg19")
    group.add_argument("--weights", default=None,
                       help="backbone weights: a local file, 'imagenet' (download) or 'none'")
    group.add_argument("--image-size", type=int, default=224, help="input side in pixels (default 224)")
    group.add_argument("--val-fraction", type=float, default=0.15,
                       help="validation share carved from train (default 0.15)")
    group.add_argument("--test-fraction", type=float, default=0.2,
                       help="test share when the source has no test split (default 0.2)")


def _extract(args) -> int:
    from tqdm import tqdm

    from .datasets import load_source
    from .extraction import default_cache_path, extract_features

    source = load_source(args.dataset, args.images, args.test_images)
    out = args.out or default_cache_path(source.name, args.backbone, args.image_size)
    with tqdm(total=source.n_samples, unit="img", desc=f"extract {source.name}",
              disable=None, file=sys.stderr) as bar:
        feature_set = extract_features(
            source, backbone=args.backbone, image_size=args.image_size, weights=args.weights,
            seed=args.seed, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
            out=out, reuse=not args.force, progress=bar.update,
        )
    state = "reused cache" if feature_set.metadata.get("cache_hit") else "extracted"
    split = feature_set.splits[0]
    print(
        f"{state}: {out}\n  {feature_set.n_samples} images x {feature_set.n_features} features, "
        f"{feature_set.n_classes} classes, {len(feature_set.splits)} split(s); split 0: "
        f"train {split.train.size} / val {split.val.size} / test {split.test.size}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evoprune", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True)

    extract = commands.add_parser("extract", help="turn an image dataset into a cached FeatureSet")
    _add_source_arguments(extract)
    extract.add_argument("--seed", type=int, default=0, help="seed of the stratified splits")
    extract.add_argument("--out", default=None, help="cache file (.npz)")
    extract.add_argument("--force", action="store_true", help="rebuild even if a matching cache exists")
    extract.set_defaults(handler=_extract)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except EvopruneError as exc:
        if args.debug:
            raise
        print(f"evoprune: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evoprune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
