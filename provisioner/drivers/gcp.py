"""GCP: Compute Engine nodes with gVNIC and a compact placement policy, gs:// checkpoints."""

from __future__ import annotations

from provisioner.catalog import InstanceType
from provisioner.drivers import Driver, FastNetworkingChoice
from provisioner.refs import GcpRefs
from provisioner.spec.models import GcpClusterSpec


def _gvnic(choice: FastNetworkingChoice) -> bool:
    inst = choice.instance
    if choice.setting == "off":
        if inst.gvnic_required:
            raise ValueError(f"{inst.name} requires gVNIC; fast_networking cannot be 'off' for it")
        return False
    if choice.setting == "on":
        return True
    # auto: GPU types gain most from gVNIC's bandwidth; some types have no other NIC.
    return inst.has_gpu or inst.gvnic_required


def _label(_: InstanceType) -> str:
    return "gVNIC"


DRIVER = Driver(
    name="gcp",
    label="GCP",
    position=1,
    spec_class=GcpClusterSpec,
    refs=GcpRefs,
    compiler="provisioner.compile.gcp:compile_gcp",
    provisioner="provisioner.clouds.gcp.lifecycle:GcpProvisioner",
    backend="provisioner.backends.cloud:CloudBackend",
    extra="gcp",
    sdk={
        "google.cloud.compute_v1": "google-cloud-compute",
        "google.cloud.storage": "google-cloud-storage",
        "googleapiclient.discovery": "google-api-python-client",
        "google.auth": "google-auth",
    },
    # S3 is reachable from anywhere with credentials.
    checkpoint_schemes=("gs", "s3"),
    creates_buckets=True,
    catalog=True,
    default_head_type="n2-standard-8",
    placement_word="compact",
    fast_networking_name="gVNIC",
    fast_networking=_gvnic,
    fast_networking_label=_label,
    # Any image URL or family path is possible; Compute Engine checks it at `up`.
)
