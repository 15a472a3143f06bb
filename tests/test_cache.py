"""The derivative cache never serves a stale derivative: defaults, rebound globals, rules, other modules."""
import concurrent.futures
import gc
import importlib
import math
import sys
import types
import weakref

import numpy as np
import pytest

import sourcediff as sd
from sourcediff.rules.registry import RULES
from sourcediff.testing import fd_vjp
from sourcediff.transform import pipeline
from sourcediff.transform.cache import DerivativeCache

act = math.sin


def uses_a_global_function(x):
    return act(x) * 2.0


def _made_with_defaults():
    made = []
    for reduce in (np.sum, np.prod, np.max, np.min):
        def f(a, _reduce=reduce):
            return _reduce(a * a)
        made.append(f)
    return made


def test_default_values_are_bound_at_call_time():
    a = np.array([0.5, 1.5, 2.0])
    for f in _made_with_defaults():
        y, back = sd.pullback(f, a)
        assert y == f(a)
        np.testing.assert_allclose(back(1.0)[0], fd_vjp(f, (a,), 1.0)[0], rtol=1e-6, atol=1e-8)


def test_a_rebound_global_is_seen_on_the_next_call():
    global act
    try:
        assert sd.gradient(uses_a_global_function, 0.3)[0] == pytest.approx(2 * math.cos(0.3))
        act = math.exp
        assert sd.gradient(uses_a_global_function, 0.3)[0] == pytest.approx(2 * math.exp(0.3))
    finally:
        act = math.sin


def _module(tmp_path, name, scale):
    (tmp_path / f"{name}.py").write_text(f"def f(x):\n    return x * x * {scale}\n")
    importlib.invalidate_caches()
    return importlib.import_module(name)


def test_identical_source_elsewhere_and_reloaded_modules_get_their_own_derivatives(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    first, second = _module(tmp_path, "cache_first", 1.0), _module(tmp_path, "cache_second", 1.0)
    try:
        assert first.f.__code__ == second.f.__code__  # equal by content, yet distinct objects
        assert sd.gradient(first.f, 3.0) == sd.gradient(second.f, 3.0) == (6.0,)
        (tmp_path / "cache_first.py").write_text("def f(x):\n    return x * x * 50.0\n")
        importlib.invalidate_caches()
        reloaded = importlib.reload(first)
        assert sd.gradient(reloaded.f, 3.0) == (300.0,)
    finally:
        del sys.modules["cache_first"], sys.modules["cache_second"]


def test_registering_a_rule_while_other_threads_differentiate():
    def helper(x):
        return x * x

    def uses(x):
        return helper(x) + 1.0

    def register():
        @sd.register_rrule(helper)
        def _(x):
            return helper(x), lambda y_bar: (sd.NO_FIELDS, 100.0 * y_bar)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            before = [pool.submit(sd.gradient, uses, 3.0) for _ in range(20)]
            registration = pool.submit(register)
            registration.result()
            after = [pool.submit(sd.gradient, uses, 3.0) for _ in range(20)]
        assert {f.result() for f in before} <= {(6.0,), (100.0,)}
        assert {f.result() for f in after} == {(100.0,)}
    finally:
        del RULES[helper]


def test_the_cache_does_not_keep_functions_alive():
    namespace = {}
    exec(compile("def temporary(x):\n    return x * 3.0\n", __file__, "exec"), namespace)
    function = namespace.pop("temporary")
    cache = DerivativeCache()
    namespace = function.__globals__
    cache.get(function.__code__, namespace, "key", lambda: _Entry(namespace))
    assert len(cache) == 1
    code = weakref.ref(function.__code__)
    del function
    gc.collect()
    assert code() is None and len(cache) == 0


def test_the_cache_is_bounded():
    cache, global_names = DerivativeCache(limit=3), {}
    codes = [compile(f"x = {n}", "<test>", "exec") for n in range(5)]
    for code in codes:
        cache.get(code, global_names, "key", lambda: _Entry(global_names))
    assert len(cache) == 3
    assert cache.lookup(codes[0], global_names, "key") is None
    assert cache.lookup(codes[-1], global_names, "key") is not None


class _Entry:
    """A stand-in cached value whose guards always hold."""

    def __init__(self, global_names):
        self.global_names = global_names
        self.guards = type("Guards", (), {"hold": staticmethod(lambda: True)})()


def test_a_guard_that_fails_rebuilds():
    built = pipeline.derivative(uses_a_global_function, frozenset())
    assert pipeline.derivative(uses_a_global_function, frozenset()) is built
    global act
    try:
        act = math.cos
        assert pipeline.derivative(uses_a_global_function, frozenset()) is not built
    finally:
        act = math.sin


tools = types.SimpleNamespace(act=math.sin)


def uses_a_path_and_a_builtin(x):
    return tools.act(x) + abs(x)


def test_attribute_paths_and_builtins_are_guarded():
    """The path guards are checked by one compiled expression: an attribute replaced, a builtin shadowed by
    a global and the global removed again are each seen on the next call."""
    try:
        assert sd.gradient(uses_a_path_and_a_builtin, 0.3)[0] == pytest.approx(math.cos(0.3) + 1.0)
        tools.act = math.exp
        assert sd.gradient(uses_a_path_and_a_builtin, 0.3)[0] == pytest.approx(math.exp(0.3) + 1.0)
        globals()["abs"] = lambda v: -v
        assert sd.gradient(uses_a_path_and_a_builtin, 0.3)[0] == pytest.approx(math.exp(0.3) - 1.0)
        del globals()["abs"]
        assert sd.gradient(uses_a_path_and_a_builtin, 0.3)[0] == pytest.approx(math.exp(0.3) + 1.0)
        del tools.act
        with pytest.raises(AttributeError):
            sd.gradient(uses_a_path_and_a_builtin, 0.3)
    finally:
        globals().pop("abs", None)
        tools.act = math.sin
