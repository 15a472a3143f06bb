"""Using sourcediff's rules by hand, without the transformer.

    foo(x) = asin(2·sin(x))

is a chain of three primitives that each have a rule. Reverse mode runs the function once,
keeping each primitive's pullback, then feeds ∂c/∂c = 1 backwards through the pullbacks.
Forward mode carries a derivative along with each value, so evaluation and differentiation
are interleaved. Both give dfoo/dx at x = 3, as do NumPy's `sin`, `multiply` and `arcsin`, and a
finite-difference estimate agrees. This is all a derivative is, once every step has a rule; the
transformer writes the same chain for you.

Run it after `pip install -e .`:  python examples/chainrules_direct.py
"""
import math
import operator

import numpy as np

import sourcediff as sd


def foo(x):
    a = math.sin(x)
    b = 2 * a
    c = math.asin(b)
    return c


def by_rrules(x, sin, mul, asin):
    """dfoo/dx by reverse mode: a forward pass that records pullbacks, then a backward pass."""
    a, a_pullback = sd.rrule(sin, x)
    b, b_pullback = sd.rrule(mul, 2, a)
    c, c_pullback = sd.rrule(asin, b)

    c_bar = 1.0                                  # ∂c/∂c
    _, b_bar = c_pullback(c_bar)                 # ∂c/∂b
    _, _, a_bar = b_pullback(sd.extern(b_bar))   # ∂c/∂a (the constant 2 gets a cotangent we ignore)
    _, x_bar = a_pullback(sd.extern(a_bar))      # ∂c/∂x = dfoo/dx
    return float(sd.extern(x_bar))


def by_frules(x, sin, mul, asin):
    """dfoo/dx by forward mode: each pushforward turns ∂(input)/∂x into ∂(output)/∂x."""
    x_dot = 1.0                                  # ∂x/∂x
    a, a_pushforward = sd.frule(sin, x)
    a_dot = a_pushforward(sd.NO_FIELDS, x_dot)   # ∂a/∂x; a function has no fields, hence NO_FIELDS
    b, b_pushforward = sd.frule(mul, 2, a)
    b_dot = b_pushforward(sd.NO_FIELDS, sd.Zero(), sd.extern(a_dot))  # ∂b/∂x; 2 does not depend on x
    c, c_pushforward = sd.frule(asin, b)
    c_dot = c_pushforward(sd.NO_FIELDS, sd.extern(b_dot))             # ∂c/∂x = dfoo/dx
    return float(sd.extern(c_dot))


def main():
    """Compute dfoo/dx at x = 3 five ways, print the results and return them as a dict."""
    x = 3
    results = {
        "rrules": by_rrules(x, math.sin, operator.mul, math.asin),
        "frules": by_frules(x, math.sin, operator.mul, math.asin),
        "rrules, numpy": by_rrules(x, np.sin, np.multiply, np.arcsin),
        "frules, numpy": by_frules(x, np.sin, np.multiply, np.arcsin),
        "finite differences": float(sd.testing.central_fdm(5, 1)(foo, x)),
    }
    for how, derivative in results.items():
        print(f"dfoo/dx by {how + ':':20}{derivative!r}")
    return results


if __name__ == "__main__":
    main()
