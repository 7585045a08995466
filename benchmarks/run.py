"""`make bench`: run every benchmark (or those named on the command line) and summarise.

python benchmarks/run.py [cli_startup ...]
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402

# name -> module in benchmarks/ with a main() returning a dict of results
BENCHMARKS = {
    "cli_startup": "benchmarks.bench_cli_startup",
    "local_up": "benchmarks.bench_local_up",
    "azure": "benchmarks.bench_azure",
    "gcp": "benchmarks.bench_gcp",
    "aws": "benchmarks.bench_aws",
    "cloudbox": "benchmarks.bench_cloudbox",
    "runtime": "benchmarks.bench_runtime",
    "learner_gpu": "benchmarks.bench_learner_gpu",
}


def main(argv: list[str]) -> int:
    wanted = argv or list(BENCHMARKS)
    unknown = [name for name in wanted if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    results: dict[str, object] = {}
    failed = False
    for name in wanted:
        print(f"== {name}", flush=True)
        try:
            results[name] = importlib.import_module(BENCHMARKS[name]).main()
        except Exception:  # one broken benchmark must not hide the others' numbers
            failed = True
            traceback.print_exc()
            results[name] = {"error": traceback.format_exc(limit=3)}
    path = save("summary", results)
    print(f"\nresults: {path}")
    print(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
