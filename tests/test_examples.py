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


def test_quickstart_gradient_matches_finite_differences():
    import importlib.util
    import pathlib

    from sourcediff.testing import fd_vjp

    path = pathlib.Path(__file__).parent.parent / "examples" / "quickstart.py"
    spec = importlib.util.spec_from_file_location("quickstart", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    grads = module.main()
    expected = fd_vjp(lambda x, d: module.damped_oscillator(x, d, 50), (1.0, 0.3), 1.0)
    assert abs(grads[0] - expected[0]) < 1e-6 and abs(grads[1] - expected[1]) < 1e-6
    assert grads[2] is None


def test_hessian_vector_product_example(capsys):
    product, by_differences, through_hessian = runpy.run_path(str(EXAMPLES / "hessian_vector_product.py"))["main"]()
    assert product == pytest.approx(by_differences, rel=1e-6, abs=1e-8)
    assert product == pytest.approx(through_hessian, rel=1e-10, abs=1e-12)
    assert "def loss_pushforward(tangents, weights, inputs, targets):" in capsys.readouterr().out
