"""Differentials, the rule registry, and the rule tables (imported here so they register)."""
from . import operators  # noqa: F401  (registers rules)
