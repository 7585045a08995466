"""Wait until EC2 accepts freshly created instance profiles, so `ray up` does not fail on its
first launch with "Invalid IAM Instance Profile".

IAM changes reach EC2 after a delay with no waiter for it. Ray's bootstrap sleeps 2 x 15 s
whenever it creates a profile. We instead ask EC2 itself, with a dry run of the head's real
launch request (same type, AMI, subnet, group, key, tags) per new profile, and retry with
backoff only while EC2 answers that the profile is unknown. A dry run creates nothing and is
free; as a bonus it surfaces a launch that would be refused (permissions, bad AMI) now,
instead of minutes into `ray up`.
"""

from __future__ import annotations

import copy
import functools
import time
from typing import Any

from provisioner.clouds.aws.errors import ERRORS
from provisioner.clouds.errors import NotYetConsistent
from provisioner.errors import CloudError
from provisioner.progress import Progress
from provisioner.retry import retry_while

BUDGET_S = 120.0


def launch_request(node_config: dict[str, Any]) -> dict[str, Any]:
    """A compiled node_config -> the RunInstances arguments Ray's node provider would send."""
    request = copy.deepcopy(node_config)
    subnets = request.pop("SubnetIds", None)
    if subnets and "NetworkInterfaces" not in request:
        request["SubnetId"] = subnets[0]
    request.update(MinCount=1, MaxCount=1)
    return request


def _dry_run(ec2: Any, request: dict[str, Any]) -> None:
    """One dry-run launch: returns when EC2 would launch it; raises NotYetConsistent (the
    kind errors.py gives "unknown instance profile") while EC2 does not know the profile."""
    with ERRORS.calls("a dry run of the head's launch (to check the new instance profile) failed"):
        try:
            ec2.run_instances(DryRun=True, **request)
        except Exception as exc:
            found = ERRORS.describe(exc)
            if found is not None and found.code == "DryRunOperation":  # "would have succeeded"
                return
            raise
    raise CloudError("EC2 accepted a dry-run launch as a real one", hint="this should not happen; check for stray instances with `rlcloud down`")


def wait_until_launchable(ec2: Any, request: dict[str, Any], profile_arns: list[str], progress: Progress) -> float:
    """Dry-run `request` with each profile until EC2 accepts it; return seconds waited."""
    started = time.monotonic()
    for arn in profile_arns:
        probe = {**request, "IamInstanceProfile": {"Arn": arn}}

        def note(exc: Exception, delay: float, arn: str = arn) -> None:
            progress.waiting(f"EC2 does not see instance profile {arn.rsplit('/', 1)[-1]} yet (IAM propagation); retrying")

        try:
            retry_while(functools.partial(_dry_run, ec2, probe), lambda exc: isinstance(exc, NotYetConsistent), budget_s=BUDGET_S, on_retry=note)
        except NotYetConsistent as exc:
            raise CloudError(
                f"EC2 still does not accept instance profile {arn} after {BUDGET_S:.0f} s: {exc.cloud_message}",
                hint="IAM is slow today: re-run `rlcloud up` in a minute (it continues where it stopped)",
            ) from None
    return time.monotonic() - started
