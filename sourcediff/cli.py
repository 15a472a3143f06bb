"""The command line: `sourcediff dump FILE.py:FUNC [--mode reverse] [--stage STAGE]`."""
import argparse
import importlib.util
import pathlib
import sys

from .errors import SourceDiffError

STAGES = ["parse", "desugar", "lower_jumps", "normalize", "effects", "reverse"]


def _load(target):
    path, _, name = target.rpartition(":")
    if not path or not name:
        raise SourceDiffError(f"expected FILE.py:FUNCTION, got {target!r}")
    file = pathlib.Path(path).resolve()
    if not file.exists():
        raise SourceDiffError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(file.parent))
    sys.modules[file.stem] = module
    spec.loader.exec_module(module)
    function = module
    for part in name.split("."):
        if not hasattr(function, part):
            raise SourceDiffError(f"{path} has no function {name!r}")
        function = getattr(function, part)
    return function


def main(argv=None):
    parser = argparse.ArgumentParser(prog="sourcediff", description="Dump the derivative code sourcediff generates.")
    commands = parser.add_subparsers(dest="command", required=True)
    dump = commands.add_parser("dump", help="print the generated derivative code of FILE.py:FUNCTION")
    dump.add_argument("target", help="FILE.py:FUNCTION (FUNCTION may be Class.method)")
    dump.add_argument("--mode", choices=["reverse", "forward"], default="reverse")
    dump.add_argument("--stage", choices=STAGES, default="reverse", help="print an intermediate stage of the pipeline")
    dump.add_argument("--scalar", action="append", default=[], metavar="NAME",
                      help="treat argument NAME as a Python float (its arithmetic is inlined); repeatable")
    options = parser.parse_args(argv)
    from . import api
    from .transform import pipeline

    try:
        function = _load(options.target)
        if options.stage == "reverse":
            if options.mode != "reverse":
                print(api.source(function, mode=options.mode), end="")
            else:
                print(pipeline.derivative(function, frozenset(options.scalar)).source, end="")
        else:
            print(pipeline.stages(function)[options.stage])
    except SourceDiffError as error:
        print(f"sourcediff: {error}", file=sys.stderr)
        return 1
    return 0
