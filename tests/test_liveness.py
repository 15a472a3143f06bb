"""Dead stores of zero cotangents are dropped from generated pullbacks, and only those."""
import textwrap

import gast

from sourcediff.transform.codegen import Comment, render
from sourcediff.transform.liveness import without_dead_zero_stores


def _kept(code):
    body = gast.parse(textwrap.dedent(code).strip("\n")).body
    return "\n".join(text for text, _ in render(without_dead_zero_stores(body, "runtime")))


def test_a_store_overwritten_before_any_read_is_dropped():
    assert "b = runtime.ZERO" not in _kept("""
        a = f(b)
        b = runtime.ZERO
        b = g(a)
        return (b,)
    """)


def test_a_store_read_afterwards_is_kept():
    for code in ["a = f(b)\nb = runtime.ZERO\nb = runtime.accumulate(b, a)\nreturn (b,)",
                 "b = runtime.ZERO\nif c:\n    b = g(a)\nreturn (b,)",
                 "b = runtime.ZERO\nreturn (b,)"]:
        assert "b = runtime.ZERO" in _kept(code)


def test_a_store_at_the_end_of_a_loop_body_is_kept_when_the_next_iteration_reads_it():
    kept = _kept("""
        for _ in range(n):
            a = runtime.accumulate(a, b)
            b = runtime.ZERO
        return (a,)
    """)
    assert "b = runtime.ZERO" in kept


def test_a_store_at_the_end_of_a_loop_body_is_dropped_when_every_iteration_and_the_rest_assign_first():
    kept = _kept("""
        for _ in range(n):
            b = f(x)
            x = g(b)
            b = runtime.ZERO
        b = h(x)
        return (b,)
    """)
    assert "b = runtime.ZERO" not in kept


def test_both_branches_must_assign():
    code = """
        b = runtime.ZERO
        if c:
            b = f(x)
        else:
            {other}
        return (b,)
    """
    assert "b = runtime.ZERO" not in _kept(code.format(other="b = g(x)"))
    assert "b = runtime.ZERO" in _kept(code.format(other="y = g(b)"))
    assert "b = runtime.ZERO" in _kept(code.format(other="y = g(x)"))


def test_a_block_left_empty_keeps_a_pass():
    kept = _kept("""
        if c:
            b = runtime.ZERO
        b = f(x)
        return (b,)
    """)
    assert "    pass" in kept and "b = runtime.ZERO" not in kept
    compile(kept.replace("return", "x = "), "<test>", "exec")


def test_comments_do_not_count_as_reads():
    store, assign, result = gast.parse("b = runtime.ZERO\nb = f(x)\nreturn (b,)").body
    kept = without_dead_zero_stores([store, Comment(3, "y = b * 2"), assign, result], "runtime")
    assert [text for text, _ in render(kept)] == ["# line 3: y = b * 2", "b = f(x)", "return (b,)"]
