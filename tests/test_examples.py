"""The example scripts run and print what they promise."""
import pathlib
import runpy

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
DFOO_DX = -2.0638950738662625  # ChainRules' documented value of d/dx asin(2 sin x) at x = 3


def test_chainrules_direct(capsys):
    results = runpy.run_path(str(EXAMPLES / "chainrules_direct.py"))["main"]()
    for how in ("rrules", "frules", "rrules, numpy", "frules, numpy"):
        assert results[how] == pytest.approx(DFOO_DX, rel=0, abs=1e-12), how
    assert results["finite differences"] == pytest.approx(DFOO_DX, rel=0, abs=1e-8)
    assert "-2.0638950738662625" in capsys.readouterr().out
