"""GCP `plan`, `up --provision-only`, re-`up` and `down` through the `rlcloud` CLI (a fresh
process each, as a user runs them) against the tests' fake Google REST APIs: wall time
(median of runs) and the requests each verb makes, reads and writes apart. The fake answers
in about a millisecond, so the times are rlcloud's own cost (imports, SDK clients, compile,
Ray's config validation); on GCP each write adds seconds (firewall rules, IAM) to minutes.

    python benchmarks/bench_gcp.py
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

TEMPLATES = ("gcp-multi-node", "gcp-single-node-8gpu")


def main() -> dict:
    from provisioner.api import template_path
    from tests.gcp.fake_gcp import FakeGcp
    from tests.gcp.helpers import leftovers

    fake = FakeGcp().start()
    results: dict[str, dict] = {}
    try:
        for name in TEMPLATES:
            times: dict[str, list[float]] = {verb: [] for verb, _ in VERBS}
            counts: dict[str, dict[str, int]] = {}
            cluster = next(line.split(":", 1)[1].strip() for line in template_path(name).read_text().splitlines() if line.startswith("name:"))
            for _ in range(REPEATS):
                fake.reset()
                with tempfile.TemporaryDirectory() as home:
                    env = {**os.environ, **fake.env(), "RLCLOUD_HOME": home, "RLCLOUD_PUBLIC_IP": "198.51.100.7"}
                    for verb, args in VERBS:
                        mark = fake.mark()
                        times[verb].append(run_verb(verb, args, template_path(name), env))
                        writes = len(fake.mutations(mark))
                        counts[verb] = {"reads": len(fake.calls) - mark - writes, "writes": writes}
                left = leftovers(fake.world, cluster)
                assert left == [], f"{name}: down left {left}"
            results[name] = {verb: {"median_s": round(statistics.median(times[verb]), 3), **counts[verb]} for verb, _ in VERBS}
    finally:
        fake.stop()
    for name, verbs in results.items():
        print(name)
        for verb, row in verbs.items():
            print(f"  {verb:<6} {row['median_s']:6.2f} s   {row['reads']:3d} reads  {row['writes']:3d} writes")
    save("gcp", results)
    return results


if __name__ == "__main__":
    main()
