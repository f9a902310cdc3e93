"""``python -m bench [--quick]``: every benchmark, each printing its figures (most against a baseline measured in the same run).

``--quick`` is passed on to every module: smaller runs, the same figures.
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = ("bench.work", "bench.export_bench", "bench.throughput", "bench.latency", "bench.memory", "bench.burst")


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    options.add_argument("--quick", action="store_true", help="each benchmark's --quick (smaller runs)")
    args = options.parse_args(argv)
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        module = importlib.import_module(name)
        code = module.main(["--quick"] if args.quick else [])
        if code:
            return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
