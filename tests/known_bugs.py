"""Known transformer bugs, each reported on the issue tracker; a strict xfail turns red when fixed."""
import pytest

KNOWN_BUGS = {
    "augmented_alias": "x += y on an array rebinds instead of updating in place, so aliases miss the update",
    "augmented_arrays": "x += y on an array rebinds instead of updating in place, so aliases miss the update",
    "builtin_higher_order": "map() and other higher-order builtins have no rule",
    "call_kwargs": "a **{literal} argument to a user function is not mapped back to its parameters",
    "call_varargs": "f(*args) call sites are not differentiated through the spread tuple",
    "callable_object": "constructing a plain (non-dataclass) user class has no rule",
    "method_on_local_instance": "constructing a plain (non-dataclass) user class has no rule",
    "closure_capture": "a nested def's captured variables do not receive cotangents",
    "construct_namedtuple": "indexing and attribute access on one namedtuple give cotangents that do not combine",
    "method_dot": "ndarray.trace and some other array methods have no rule",
    "scalar_from_array_item": "ndarray.item / generic.item have no rule",
    "starred_unpacking": "list() of a list has no rule (starred unpacking)",
    "calls_cumprod": "NoRuleError raised at run time does not quote the offending code",
    "calls_frexp": "NoRuleError raised at run time does not quote the offending code",
    "calls_rng_normal": "a method of a C object without a rule crashes in reverse_call instead of NoRuleError",
    "returns_vector": "NonScalarOutputError names the def line, not the return line, and quotes no code",
    "returns_tuple": "NonScalarOutputError names the def line, not the return line, and quotes no code",
}


def mark_known(values, names, known=KNOWN_BUGS):
    """Wrap parametrize values whose id is a known bug in a strict xfail."""
    return [pytest.param(*(v if isinstance(v, tuple) else (v,)), id=n,
                         marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[n])) if n in known
            else pytest.param(*(v if isinstance(v, tuple) else (v,)), id=n) for v, n in zip(values, names)]
