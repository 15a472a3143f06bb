"""Differentials, the rule registry, and the rule tables (importing a table registers its rules)."""
from . import (  # noqa: F401
    builtins, container_methods, containers, linalg, math, numpy_elementwise, numpy_indexing, numpy_mutators, numpy_products,
    numpy_reductions, numpy_shapes, operators,
)
