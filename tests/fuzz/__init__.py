"""Random-program fuzzing of sourcediff.

`programs.generate(seed)` writes a random but valid program (a module with an entry function `f`
and its arguments), `checker.check(program)` differentiates it and compares with finite
differences, `shrink.shrink(program, result)` minimises a failing program. `tools/fuzz.py` runs
many of them; `test_fuzz.py` runs a few hundred under pytest.
"""
