"""Azure: VMs with accelerated networking and a proximity placement group, az:// checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from provisioner.catalog import InstanceType
from provisioner.drivers import Driver, FastNetworkingChoice
from provisioner.images import azure_image_problem
from provisioner.refs import AzureRefs
from provisioner.spec.models import AzureClusterSpec

if TYPE_CHECKING:
    from provisioner.spec.checks import RuleIssue
    from provisioner.spec.models import ClusterSpecBase


def _accelerated_networking(choice: FastNetworkingChoice) -> bool:
    inst = choice.instance
    if choice.setting == "on" and not inst.accelerated_networking:
        raise ValueError(f"{inst.name} ({choice.label}) does not support accelerated networking")
    return choice.setting != "off" and inst.accelerated_networking


def _label(inst: InstanceType) -> str:
    return "AccelNet" if inst.accelerated_networking else "-"


def _rules(spec: ClusterSpecBase) -> list[RuleIssue]:
    from provisioner.spec.checks import RuleIssue

    if spec.storage.scheme == "az" and not spec.node_groups:
        # Only worker VMs get the identity that may write to the container (the head's holds
        # the autoscaler role and no storage), and a head-only cluster runs its learner on the head.
        message = (
            "az:// checkpoints are written by worker nodes (the head's identity has no storage access); "
            "add node_groups, or checkpoint to s3:// on a head-only cluster"
        )
        return [RuleIssue(("storage", "checkpoint_uri"), message)]
    return []


DRIVER = Driver(
    name="azure",
    label="Azure",
    position=2,
    spec_class=AzureClusterSpec,
    refs=AzureRefs,
    compiler="provisioner.compile.azure:compile_azure",
    provisioner="provisioner.clouds.azure.azure_provisioner:AzureProvisioner",
    backend="provisioner.backends.cloud:CloudBackend",
    extra="azure",
    # The last two are what Ray's own Azure provider imports, which rlcloud's node provider extends.
    sdk={
        "azure.identity": "azure-identity",
        "azure.mgmt.resource": "azure-mgmt-resource",
        "azure.mgmt.network": "azure-mgmt-network",
        "azure.mgmt.compute": "azure-mgmt-compute",
        "azure.mgmt.msi": "azure-mgmt-msi",
        "azure.mgmt.authorization": "azure-mgmt-authorization",
        "msrest": "msrest",
        "msrestazure": "msrestazure",
    },
    checkpoint_schemes=("az", "s3"),
    creates_buckets=True,
    catalog=True,
    default_head_type="Standard_D8s_v5",
    placement_word="proximity",
    fast_networking_name="accelerated networking",
    fast_networking=_accelerated_networking,
    fast_networking_label=_label,
    image_problem=azure_image_problem,
    rules=_rules,
)
