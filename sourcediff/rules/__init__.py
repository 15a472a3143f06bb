"""Differentials, the rule registry, and the rule tables (imported here so they register)."""
from . import operators  # noqa: F401  (registers rules)
from . import numpy_elementwise, numpy_reductions  # noqa: F401  (registers rules)
from . import builtins, math  # noqa: F401  (registers rules)
from . import numpy_shapes, numpy_indexing, numpy_products, linalg  # noqa: F401  (registers rules)
from . import containers  # noqa: F401  (registers rules)
