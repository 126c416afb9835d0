"""Run the benchmarks and print a table: `python -m bench [--quick] [name ...]`."""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()

import argparse  # noqa: E402
import importlib  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

BENCHMARKS = ("simulate", "append", "relay", "rpc", "end_to_end", "roster_file",
              "import_members", "month_close", "dashboard", "rebuild", "two_instances",
              "slow_clients", "verify", "province_year")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--write", metavar="FILE", default=None,
                        help="also write the figures, the machine and the targets as "
                        "Markdown to FILE (make bench: docs/benchmarks.md)")
    parser.add_argument("names", nargs="*", metavar="name",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from "
                     f"{', '.join(BENCHMARKS)}")
    results: list[tuple[str, float, str]] = []
    sections: dict[str, tuple[str, list[tuple[str, float, str]]]] = {}
    failed = False
    for name in args.names or BENCHMARKS:
        started = time.perf_counter()
        print(f"== {name}{' (quick)' if args.quick else ''}", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
            figures = module.run(args.quick)
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            traceback.print_exc()
            module, figures = None, [(f"{name}: FAILED", math.nan, "")]
            failed = True
        results += figures
        sections[name] = ((module.__doc__ or "") if module else "It failed; see the "
                          "run's output.", figures)
        print(f"   {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr,
              flush=True)

    failed = failed or any(math.isnan(value) for _, value, _ in results)
    width = max([len(label) for label, _, _ in results] + [9])
    print(f"{'benchmark':<{width}}  {'value':>12}  unit")
    print(f"{'-' * width}  {'-' * 12}  {'-' * 10}")
    for label, value, unit in results:
        shown = "—" if math.isnan(value) else f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
        print(f"{label:<{width}}  {shown:>12}  {unit}")
    if args.write:
        from bench.report import Section, earlier_sections, render

        command = "python -m bench" + (" --quick" if args.quick else "") + (
            f" --write {args.write}") + "".join(f" {n}" for n in args.names)
        target = Path(args.write)
        # Benchmarks not run this time keep the figures an earlier run wrote, dated.
        earlier = earlier_sections(target.read_text(encoding="utf-8")
                                   if target.exists() else "")
        ordered = [Section(name, *sections[name]) if name in sections else earlier[name]
                   for name in BENCHMARKS if name in sections or name in earlier]
        target.write_text(render(ordered, command, args.quick), encoding="utf-8")
        print(f"written: {args.write}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
