"""Known transformer bugs, each reported on the issue tracker; a strict xfail turns red when fixed."""
import pytest

KNOWN_BUGS = {
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
