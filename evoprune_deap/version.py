"""The package version, one place (written into feature caches and run environments)."""

__version__ = "0.1.0"
