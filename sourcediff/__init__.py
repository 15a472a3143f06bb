"""sourcediff: automatic differentiation of Python and NumPy by source transformation."""
from . import rules, testing
from .errors import SourceDiffError
from .rules.differentials import NO_FIELDS, InplaceableThunk, One, Tangent, Thunk, Zero, extern
from .rules.registry import frule, non_differentiable, register_frule, register_rrule, rrule, scalar_rule
