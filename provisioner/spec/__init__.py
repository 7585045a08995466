"""The cluster spec language: models, loading with line-accurate errors, resolution, checks."""

from provisioner.spec.load import load_spec, load_spec_text
from provisioner.spec.models import (
    AwsClusterSpec,
    AzureClusterSpec,
    ClusterSpecBase,
    GcpClusterSpec,
    LocalClusterSpec,
)

__all__ = [
    "AwsClusterSpec",
    "AzureClusterSpec",
    "ClusterSpecBase",
    "GcpClusterSpec",
    "LocalClusterSpec",
    "load_spec",
    "load_spec_text",
]
