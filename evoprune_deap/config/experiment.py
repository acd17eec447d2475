"""The whole config of one run: the five tables together, built from a dict of tables."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import ConfigError
from .checks import check_encoding_depth, check_types
from .tables import DataConfig, FitnessConfig, GAConfig, HeadConfig, RunConfig


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Everything one run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    ga: GAConfig = field(default_factory=GAConfig)
    run: RunConfig = field(default_factory=RunConfig)
    fitness: FitnessConfig = field(default_factory=FitnessConfig)

    def __post_init__(self):
        check_encoding_depth(self.ga.encoding, self.hidden_units)
        if self.fitness.folds > 1 and self.run.protocol == "paper":
            raise ConfigError(
                f"[fitness] folds = {self.fitness.folds} cross-validates inside train + validation, "
                "but the paper protocol scores fitness on test; use protocol = 'honest' "
                "(--protocol honest) or folds = 1."
            )
        if self.fitness.reevaluate and self.ga.objectives:
            raise ConfigError(
                f"[fitness] reevaluate = {self.fitness.reevaluate} re-scores the single-objective GA's best "
                "masks; a multi-objective run keeps its whole front: leave out --reevaluate or --objectives."
            )
        data = self.data
        if (
            "ood" in (self.ga.objectives or ())
            and data.ood_dataset is None
            and data.ood_images is None
            and data.ood_features is None
        ):
            raise ConfigError(
                "The objective 'ood' needs out-of-distribution images: pass --ood-images DIR, "
                "--ood-dataset NAME or --ood-features FILE.npz ([data] ood_images ...)."
            )

    @property
    def hidden_units(self) -> tuple:
        """The head's hidden widths for this run's encoding."""
        return self.head.widths(self.ga.encoding)

    def to_dict(self) -> dict:
        return {name: _table(getattr(self, name)) for name in SECTIONS}

    def replace(self, **sections) -> "ExperimentConfig":
        """Return a copy with some keys changed: ``replace(ga={"population": 10})``."""
        return from_dict(merge(self.to_dict(), sections))


SECTIONS = {
    "data": DataConfig,
    "head": HeadConfig,
    "ga": GAConfig,
    "run": RunConfig,
    "fitness": FitnessConfig,
}
"""The TOML tables, in order, and the dataclass of each."""


def _table(section) -> dict:
    values = dataclasses.asdict(section)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


def merge(base: dict, override: dict) -> dict:
    """Every table of ``base`` with the keys of ``override``'s table of the same name set over it.

    Raises
    ------
    ConfigError
        A table of ``override`` that is not one of :data:`SECTIONS`, or not a table of keys.
    """
    merged = {name: dict(base.get(name, {})) for name in SECTIONS}
    for name, table in override.items():
        if name not in SECTIONS:
            raise ConfigError(f"Unknown config table [{name}]; valid tables: {', '.join(SECTIONS)}.")
        if not isinstance(table, dict):
            raise ConfigError(f"Config [{name}] must be a table of keys; got {table!r}.")
        merged[name].update(table)
    return merged


def from_dict(tables: dict) -> ExperimentConfig:
    """Build an :class:`ExperimentConfig` from ``{"data": {...}, "ga": {...}, ...}``."""
    merged = merge({}, tables)
    sections = {}
    for name, cls in SECTIONS.items():
        check_types(name, cls, merged[name])
        sections[name] = cls(**merged[name])
    return ExperimentConfig(**sections)
