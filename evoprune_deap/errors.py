"""Exception hierarchy of evoprune-deap.

Every error a user can cause derives from :class:`EvopruneError`, so the CLI can
turn it into one clear line. Errors about bad values also derive from
:class:`ValueError`, as scikit-learn and Keras do.
"""


class EvopruneError(Exception):
    """Base class of every error raised on purpose by evoprune-deap."""


class ConfigError(EvopruneError, ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


class DatasetError(EvopruneError, ValueError):
    """An image source is missing, empty, unreadable or unusable for training."""


class BackboneError(EvopruneError):
    """A feature extractor cannot be built (unknown name, missing or bad weights)."""


class FeatureCacheError(EvopruneError, ValueError):
    """A feature cache is missing, truncated, tampered with or inconsistent."""


class EncodingError(EvopruneError, ValueError):
    """A mask does not fit its encoding (length, dtype, no active unit)."""


class RunDirectoryError(EvopruneError):
    """A run directory cannot be created, locked, resumed or written."""


class OutputError(EvopruneError):
    """An output path (``--out``, the cache folder) cannot be written; found before any work starts."""


class RunInterrupted(EvopruneError):
    """The run was stopped by the user (Ctrl-C) after a finished evaluation; it can be resumed."""
