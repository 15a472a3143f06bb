"""sourcediff: automatic differentiation of Python and NumPy by source transformation.

    >>> import sourcediff as sd
    >>> sd.gradient(lambda x, y: x * y + y, 2.0, 3.0)
    (3.0, 3.0)
"""
from . import rules, testing
from .api import differentiable, gradient, jvp, pullback, refresh, source
from .mixed import hessian, hvp, jacobian
from .errors import NonScalarOutputError, NoRuleError, SourceDiffError, SourceUnavailableError, UnsupportedSyntaxError
from .rules.differentials import NO_FIELDS, InplaceableThunk, One, Tangent, Thunk, Zero, extern
from .rules.registry import frule, non_differentiable, register_frule, register_rrule, rrule, scalar_rule

__all__ = [
    "pullback", "gradient", "jvp", "hvp", "hessian", "jacobian", "differentiable", "source", "refresh",
    "rrule", "frule", "register_rrule", "register_frule", "scalar_rule", "non_differentiable",
    "Zero", "One", "Thunk", "InplaceableThunk", "Tangent", "extern", "NO_FIELDS",
    "SourceDiffError", "UnsupportedSyntaxError", "NoRuleError", "NonScalarOutputError", "SourceUnavailableError",
    "rules", "testing",
]
