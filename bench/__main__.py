"""``python -m bench``: every benchmark, each printing its ratio against a baseline measured in the same run."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("bench.export_bench", "bench.throughput", "bench.latency", "bench.memory", "bench.burst")


def main() -> int:
    for name in BENCHMARKS:
        print(f"== {name}", flush=True)
        module = importlib.import_module(name)
        code = module.main([])
        if code:
            return int(code)
    return 0


if __name__ == "__main__":
    sys.exit(main())
