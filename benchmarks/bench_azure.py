"""Azure `plan`, `up --provision-only`, re-`up` and `down` through the `rlcloud` CLI (a fresh
process each, as a user runs them) against the tests' fake ARM server: wall time (median of
runs) and the ARM requests each verb makes, reads and writes apart. The fake answers in
about a millisecond, so the times are rlcloud's own cost (imports, SDK, compile, Ray's config
validation); on Azure, each write adds its own seconds to minutes.

    python benchmarks/bench_azure.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.cli_verbs import REPEATS, VERBS, run_verb  # noqa: E402
from benchmarks.common import save  # noqa: E402

TEMPLATES = ("azure-multi-node", "azure-single-node-8gpu")


def main() -> dict:
    from provisioner.api import template_path
    from provisioner.clouds.azure.sdk_clients import ENDPOINT_ENV, POLLING_INTERVAL_ENV
    from tests.azure.fake_arm import start_fake_arm

    fake = start_fake_arm()
    results: dict[str, dict] = {}
    try:
        for name in TEMPLATES:
            times: dict[str, list[float]] = {verb: [] for verb, _ in VERBS}
            counts: dict[str, dict[str, int]] = {}
            for _ in range(REPEATS):
                fake.reset()
                with tempfile.TemporaryDirectory() as home:
                    env = {
                        **os.environ,
                        "RLCLOUD_HOME": home,
                        ENDPOINT_ENV: fake.endpoint,
                        POLLING_INTERVAL_ENV: "0",
                        "RLCLOUD_PUBLIC_IP": "198.51.100.7",
                    }
                    for verb, args in VERBS:
                        fake.clear_requests()
                        times[verb].append(run_verb(verb, args, template_path(name), env))
                        writes = len(fake.mutations())
                        counts[verb] = {"reads": len(fake.requests) - writes, "writes": writes}
                assert fake.everything() == [], f"{name}: down left {fake.everything()}"
            results[name] = {verb: {"median_s": round(statistics.median(times[verb]), 3), **counts[verb]} for verb, _ in VERBS}
    finally:
        fake.stop()
    for name, verbs in results.items():
        print(name)
        for verb, row in verbs.items():
            print(f"  {verb:<6} {row['median_s']:6.2f} s   {row['reads']:3d} reads  {row['writes']:3d} writes")
    save("azure", results)
    return results


if __name__ == "__main__":
    main()
