"""Generated code is a product: these dumps must stay byte-identical (regenerate deliberately with
`SOURCEDIFF_UPDATE_GOLDEN=1 pytest tests/test_golden.py` and review the diff)."""
import os
import pathlib
import sys

import pytest

import sourcediff as sd
from sourcediff.transform import pipeline

HERE = pathlib.Path(__file__).parent / "golden"
sys.path.insert(0, str(HERE))
import functions  # noqa: E402

NAMES = ["scalar_loop", "scalar_loop_floats", "branchy", "mlp_loss",
         "forward_scalar_loop_floats", "forward_branchy", "forward_mlp_loss"]
EXAMPLES = {"scalar_loop_floats": ("scalar_loop", (0.5, 1.2)), "forward_scalar_loop_floats": ("scalar_loop", (0.5, 1.2))}


def _dump(name):
    mode = "forward" if name.startswith("forward_") else "reverse"
    function_name, example = EXAMPLES.get(name, (name.removeprefix("forward_"), None))
    pipeline.refresh()
    return sd.source(getattr(functions, function_name), mode=mode, example=example).replace(str(HERE), "<golden>")


@pytest.mark.parametrize("name", NAMES)
def test_generated_code_matches_golden_file(name):
    path = HERE / f"{name}.txt"
    text = _dump(name)
    if os.environ.get("SOURCEDIFF_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


@pytest.mark.parametrize("name", NAMES)
def test_generation_is_deterministic(name):
    assert _dump(name) == _dump(name)
