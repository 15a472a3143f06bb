"""Fuzz sourcediff with random programs and report what goes wrong.

    python tools/fuzz.py --count 2000 --seed 0 --jobs 2     # run seeds 0..1999 on two workers
    python tools/fuzz.py --count 500 --show 5 --shrink      # ... and print 5 minimised failures
    python tools/fuzz.py --count 500 --shrink --out fails/  # ... and write every failure to fails/
    python tools/fuzz.py --seed 123 --one [--shrink]        # check and print one program
    python tools/fuzz.py --file fails/wrong_123.py [--shrink]   # re-check a written failure

The report is a table of the most common failure kinds (count, an example seed and its detail),
a line with the nonsmooth and invalid counts, the time taken, and as the last line
`fuzz: P/N pass, W wrong, R refused, C crashed`. Failures written by `--out` are runnable files
(`python fails/wrong_123.py` prints sourcediff's gradient) with the arguments as `ARGS = ...`.
Shrinking runs sourcediff on hundreds of candidates, so it takes a few seconds per failure.
"""
import argparse
import collections
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.fuzz import checker, programs, shrink  # noqa: E402  (needs the repository root on sys.path)

FAILURES = ("wrong", "crashed")
TABLED = ("wrong", "crashed", "refused")


def run(seed):
    """`(seed, Result)` for the program of `seed`."""
    try:
        program = programs.generate(seed)
    except RuntimeError as error:  # the generator found no valid program
        return seed, checker.Result("invalid", str(error), "generator")
    return seed, checker.check(program)


def minimise(item):
    """`(seed, Result, minimised Program)` for a failing seed."""
    seed, result = item
    return seed, result, shrink.shrink(programs.generate(seed), result)


def parallel(function, items, jobs):
    """`[function(item) for item in items]`, on `jobs` worker processes when jobs > 1."""
    if jobs <= 1 or len(items) <= 1:
        return [function(item) for item in items]
    programs.workdir()  # made before the workers start, so they share it and it is removed at exit
    with multiprocessing.Pool(jobs) as pool:
        return list(pool.imap(function, items, chunksize=max(1, min(16, len(items) // (8 * jobs)))))


def report(results, top):
    """Print the table of failure kinds and the nonsmooth/invalid line."""
    groups = collections.defaultdict(list)
    for seed, result in results:
        if result.outcome in TABLED:
            groups[result.outcome, result.kind].append((seed, result))
    if groups:
        print(f"{'count':>5}  {'outcome':8} {'seed':>7}  kind / example detail")
        for (outcome, kind), members in sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))[:top]:
            seed, example = members[0]
            print(f"{len(members):5}  {outcome:8} {seed:7}  {kind}")
            if example.detail != kind:
                print(f"{'':24}{example.detail}")
    counts = collections.Counter(result.outcome for _, result in results)
    print(f"nonsmooth: {counts['nonsmooth']}, invalid: {counts['invalid']}")
    for seed, result in results:
        if result.outcome == "invalid":
            print(f"  invalid seed {seed}: {result.detail}")
    return counts


def describe(program, result, title):
    """The text printed for one program: a title line, its source, its arguments and its outcome."""
    return (f"#### {title}\n{program.source}\nARGS = {program.args_source()}\n"
            f"# -> {result.outcome}: {result.detail}\n")


def show_and_write(failures, args):
    """Print up to `--show` failures and write all of them to `--out`, minimised when `--shrink` is given."""
    shown = failures[:args.show] if not args.out else failures
    if not shown:
        return
    if args.shrink:
        items = parallel(minimise, shown, args.jobs)
    else:
        items = [(seed, result, programs.generate(seed)) for seed, result in shown]
    for number, (seed, result, program) in enumerate(items):
        final = checker.check(program) if args.shrink else result
        if number < args.show:
            print(describe(program, final, f"seed {seed}: {result.outcome}" + (" (minimised)" if args.shrink else "")))
        if args.out:
            write(program, final, result, f"{result.outcome}_{seed}.py", f"seed {seed}", args)


def write(program, final, first, filename, title, args):
    """Write a (minimised) failing program as a runnable file in `--out`; returns its path."""
    os.makedirs(args.out, exist_ok=True)
    comment = (f"sourcediff fuzz {title}{' (minimised)' if args.shrink else ''}\n"
               f"{final.outcome}: {final.detail}\nfirst found as: {first.detail}")
    path = os.path.join(args.out, filename)
    with open(path, "w") as file:
        file.write(program.text(comment))
    return path


def check_one(program, title, name, args):
    """Check one program and print it (and its minimised version with `--shrink`; written to `--out`)."""
    result = checker.check(program)
    print(describe(program, result, title))
    final = result
    if args.shrink and result.outcome in ("wrong", "crashed", "refused"):
        program = shrink.shrink(program, result)
        final = checker.check(program)
        print(describe(program, final, f"{title}, minimised"))
    if args.out and result.outcome in ("wrong", "crashed", "refused"):
        print(f"written to {write(program, final, result, f'{result.outcome}_{name}.py', title, args)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="number of programs (seeds SEED..SEED+COUNT-1)")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--show", type=int, default=0, help="print the source of up to K failing programs")
    parser.add_argument("--shrink", action="store_true", help="minimise the failures that are shown or written")
    parser.add_argument("--out", help="write every failure (wrong, crashed; with --one also refused) to "
                                      "OUT/<outcome>_<seed>.py")
    parser.add_argument("--top", type=int, default=20, help="rows of the table of failure kinds")
    parser.add_argument("--one", action="store_true", help="check and print the single program of --seed")
    parser.add_argument("--hvp", action="store_true", help="also check sd.hvp against differences of the gradient "
                        "(forward over reverse; several times slower)")
    parser.add_argument("--file", help="check a program file (with an `ARGS = ...` line) instead")
    args = parser.parse_args(argv)
    if args.hvp:
        os.environ["SOURCEDIFF_FUZZ_HVP"] = "1"  # (read by the checker, in the worker processes too)

    if args.one or args.file:
        if args.file:
            with open(args.file) as file:
                program = programs.from_text(file.read())
            check_one(program, args.file, os.path.splitext(os.path.basename(args.file))[0], args)
        else:
            check_one(programs.generate(args.seed), f"seed {args.seed}", str(args.seed), args)
        return 0

    start = time.monotonic()
    results = parallel(run, list(range(args.seed, args.seed + args.count)), args.jobs)
    elapsed = time.monotonic() - start
    counts = report(results, args.top)
    show_and_write([(seed, result) for seed, result in results if result.outcome in FAILURES], args)
    print(f"time: {elapsed:.1f} s for {args.count} programs ({1000 * elapsed / max(1, args.count):.0f} ms each, "
          f"{args.jobs} job{'s' if args.jobs != 1 else ''})")
    print(f"fuzz: {counts['pass']}/{args.count} pass, {counts['wrong']} wrong, {counts['refused']} refused, "
          f"{counts['crashed']} crashed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
