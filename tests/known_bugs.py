"""Known transformer bugs, each reported on the issue tracker; a strict xfail turns red when fixed."""
import pytest

KNOWN_BUGS = {
}


def mark_known(values, names, known=KNOWN_BUGS):
    """Wrap parametrize values whose id is a known bug in a strict xfail."""
    return [pytest.param(*(v if isinstance(v, tuple) else (v,)), id=n,
                         marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[n])) if n in known
            else pytest.param(*(v if isinstance(v, tuple) else (v,)), id=n) for v, n in zip(values, names)]
