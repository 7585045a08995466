"""Helpers for benchmarks: repeat-and-take-the-median timing, ratios, result files.

This machine is shared and noisy, so every benchmark compares ours against a baseline
measured in the same run, interleaved, and reports medians and their ratio.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / ".bench"


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def interleaved_medians(a: Callable[[], object], b: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time of `a` and of `b`, run alternately so drift hits both alike."""
    ta, tb = [], []
    for _ in range(repeats):
        for fn, bucket in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def run_quiet(argv: Sequence[str], **kwargs: object) -> None:
    subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, **kwargs)  # type: ignore[arg-type]


def save(name: str, result: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path
