"""The version: the one place it is written (pyproject.toml's build reads it here)."""

__version__ = "0.1.0"
