"""AWS: the resources around a Ray cluster (key pair, security group, placement group, IAM
roles and profiles, checkpoint bucket), created with boto3 and deleted without orphans.

boto3 is imported only when an AWS cluster is planned, brought up or down, so `rlcloud`
starts fast and works for other clouds without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioner.errors import MissingDependencyError

if TYPE_CHECKING:
    from provisioner.clouds.base import CloudProvisioner


def provisioner() -> CloudProvisioner:
    try:
        import boto3  # noqa: F401
        import botocore  # noqa: F401
    except ImportError:
        raise MissingDependencyError("boto3", "aws") from None
    # (not named provisioner.py: importing that submodule would shadow this function)
    from provisioner.clouds.aws.lifecycle import AwsProvisioner

    return AwsProvisioner()
