"""The examples in sourcediff's docstrings run and show what they claim."""
import doctest
import importlib
import pkgutil

import pytest

import sourcediff

MODULES = sorted(m.name for m in pkgutil.walk_packages(sourcediff.__path__, "sourcediff.") if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
