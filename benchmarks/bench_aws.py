"""AWS on moto server: `rlcloud up --provision-only` (first and idempotent re-up) and `down`,
wall time and API calls; and how long IAM propagation holds up a first `up`, ours (IAM waiters
+ a dry-run launch until EC2 accepts the profile) against Ray's own `bootstrap_aws` creating its
default profile on the same account (it sleeps 15 s twice: measured here, not assumed).

moto answers in milliseconds and IAM changes are visible at once, so these numbers are rlcloud's
own overhead and call counts; on AWS each call costs tens of milliseconds more and propagation
takes seconds, which ours waits out by asking EC2 and Ray by sleeping.

    python benchmarks/bench_aws.py
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import patch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402

REPEATS = 3
# The test suite's spec: head, 8x H100 EFA learner in a placement group, spot L4 samplers, bucket.
from tests.support.specs import AWS as SPEC  # noqa: E402


def _fresh_account(server: Any) -> None:
    """Reset moto and let it rebuild its region data (~1.5 s of moto's own, not timed)."""
    import boto3

    server.reset()
    boto3.client("ec2", region_name="us-west-2").describe_vpcs()
    boto3.client("iam").list_roles()


def _timed(fn: Callable[[], Any], log: Any) -> dict[str, Any]:
    log.clear()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    return {"s": elapsed, "calls": len(log.calls), "mutating": len(log.mutating())}


def _lifecycle(server: Any, spec: Path, log: Any) -> dict[str, dict[str, Any]]:
    from provisioner import api

    _fresh_account(server)
    return {
        "first_up": _timed(lambda: api.up(spec, assume_yes=True, provision_only=True), log),
        "re_up": _timed(lambda: api.up(spec, assume_yes=True, provision_only=True), log),
        "down": _timed(lambda: api.down(spec, assume_yes=True, purge_storage=True), log),
    }


STEP = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")


def _our_iam_wait(server: Any, spec: Path) -> float:
    """Seconds from creating the first IAM role to EC2 accepting both profiles, read from
    `up`'s own progress lines (a spec without a bucket, so nothing else happens in between)."""
    from provisioner import api
    from provisioner.progress import Progress

    _fresh_account(server)
    lines: list[str] = []
    api.up(spec, assume_yes=True, provision_only=True, progress=Progress(write=lines.append))
    steps = [(float(m.group(1)), m.group(2)) for m in map(STEP.match, lines) if m]
    start = next(t for t, text in steps if text.startswith("creating iam_role"))
    end = next(t for t, text in steps if text.startswith("instance profiles usable"))
    api.down(spec, assume_yes=True, purge_storage=True)
    return end - start


def _ray_iam_wait(server: Any, spec: Path) -> float:
    """Ray's bootstrap_aws on our rendered config minus the instance profiles: Ray then makes
    its default profile and role (AmazonEC2FullAccess + AmazonS3FullAccess) and waits."""
    import copy

    import yaml
    from ray.autoscaler._private.aws import config as ray_config
    from ray.autoscaler._private.aws import utils as ray_utils

    from provisioner import api, naming
    from provisioner.spec import load_spec

    _fresh_account(server)
    api.up(spec, assume_yes=True, provision_only=True)
    name = load_spec(spec).name
    config = yaml.safe_load((naming.state_dir(name) / "ray-cluster.yaml").read_text())
    for node_type in config["available_node_types"].values():
        node_type["node_config"].pop("IamInstanceProfile")
    for cached in (ray_utils.resource_cache, ray_utils.client_cache, ray_config._get_subnets_or_die):
        cached.cache_clear()
    start = time.perf_counter()
    ray_config.bootstrap_aws(copy.deepcopy(config))
    elapsed = time.perf_counter() - start
    api.down(spec, assume_yes=True, purge_storage=True)
    return elapsed


def main(repeats: int = REPEATS) -> dict:
    import logging

    from provisioner.clouds.aws.session import on_new_client
    from tests.aws.aws_api import CallLog
    from tests.aws.moto_gaps import MotoGaps
    from tests.support.moto_server import FAKE_CREDENTIALS, start_moto_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's request log
    server = start_moto_server()
    log, gaps = CallLog(), MotoGaps()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **FAKE_CREDENTIALS,
            **server.env(),
            "RLCLOUD_PUBLIC_IP": "198.51.100.7",
            "RLCLOUD_HOME": str(Path(tmp) / "home"),
            "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",  # Ray attaches AmazonEC2FullAccess / AmazonS3FullAccess
        }
        spec, no_bucket = Path(tmp) / "aws.yaml", Path(tmp) / "aws-no-bucket.yaml"
        spec.write_text(SPEC)
        no_bucket.write_text(SPEC.split("storage:")[0])
        try:
            with patch.dict(os.environ, env), on_new_client(gaps.attach), on_new_client(log.attach):
                runs = [_lifecycle(server, spec, log) for _ in range(repeats)]
                ours_iam = statistics.median(_our_iam_wait(server, no_bucket) for _ in range(repeats))
                ray_iam = _ray_iam_wait(server, no_bucket)  # once: it sleeps ~30 s
        finally:
            server.stop()

    result: dict[str, Any] = {}
    for phase in ("first_up", "re_up", "down"):
        samples = [run[phase] for run in runs]
        result[phase] = {
            "median_s": round(statistics.median(s["s"] for s in samples), 3),
            "samples_s": [round(s["s"], 3) for s in samples],
            "api_calls": samples[-1]["calls"],
            "mutating_calls": samples[-1]["mutating"],
        }
    result["iam_propagation"] = {
        "rlcloud_s": round(ours_iam, 2),
        "ray_bootstrap_aws_s": round(ray_iam, 2),
        "speedup": round(ray_iam / max(ours_iam, 1e-3), 1),
        "how": "rlcloud: IAM waiters + dry-run RunInstances until EC2 accepts the profile; Ray: time.sleep(15) after the profile, again after the role",
    }
    print("AWS on moto server (in-process API; medians of", repeats, "runs)")
    print(f"  {'phase':<10} {'wall s':>8} {'API calls':>10} {'mutating':>9}")
    for phase in ("first_up", "re_up", "down"):
        row = result[phase]
        print(f"  {phase:<10} {row['median_s']:>8.2f} {row['api_calls']:>10} {row['mutating_calls']:>9}")
    iam = result["iam_propagation"]
    print(f"  IAM propagation on a fresh account: rlcloud {iam['rlcloud_s']:.2f}s vs Ray bootstrap_aws {iam['ray_bootstrap_aws_s']:.2f}s")
    save("aws", result)
    return result


if __name__ == "__main__":
    main()
