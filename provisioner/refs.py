"""What provisioning hands the compiler: the ids of resources that only exist after `up`.

Each cloud's provisioner (provisioner/clouds/) returns one of these models from `apply`,
`up` records it in the cluster's state file, and the compiler (provisioner/compile/) reads it
back to fill the `{{rlcloud:...}}` placeholders it would otherwise write. Both sides import
this module, so neither depends on the other for the shape of what they exchange; each
cloud's driver (provisioner/drivers/) names its model.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class AwsRefs(BaseModel):
    """AWS ids known only after provisioning."""

    model_config = ConfigDict(extra="forbid")

    security_group_id: str | None = Field(default=None, description="Security group `up` created or adopted for the cluster (sg-...).")
    subnet_id: str | None = Field(default=None, description="Subnet every node launches into (subnet-...), in the spec's zone.")
    instance_profile: str | None = Field(
        default=None, description="Instance profile ARN (or name) of the workers; of the head too unless head_instance_profile is set."
    )
    head_instance_profile: str | None = Field(
        default=None, description="Instance profile ARN of the head (the only node allowed to launch and terminate instances)."
    )
    images: dict[str, str] = Field(default_factory=dict, description="Image as written in the spec ('' = default) -> AMI id.")
    root_device_names: dict[str, str] = Field(default_factory=dict, description="AMI id -> root device name.")
    network_cards: dict[str, int] = Field(
        default_factory=dict,
        description="EFA instance type -> network cards, as DescribeInstanceTypes reports at `up` (overrides the catalog snapshot).",
    )


class GcpRefs(BaseModel):
    """GCP facts known only after provisioning."""

    model_config = ConfigDict(extra="forbid")

    ssh_public_key: str | None = Field(default=None, description="OpenSSH public key text for instance metadata.")
    images_without_gvnic: list[str] = Field(
        default_factory=list,
        description="Boot images `up` found lacking the GVNIC guest OS feature: their VMs keep the default NIC.",
    )


class AzureRefs(BaseModel):
    """Azure ids known only after provisioning."""

    model_config = ConfigDict(extra="forbid")

    resource_group: str | None = Field(default=None, description="Resource group the cluster's VMs and network live in.")
    subnet_id: str | None = Field(default=None, description="Resource id of the subnet every VM joins.")
    nsg_id: str | None = Field(default=None, description="Resource id of the cluster's network security group.")
    identity_id: str | None = Field(default=None, description="Resource id of the head's user-assigned managed identity.")
    identity_principal_id: str | None = Field(default=None, description="Its principal (object) id, which role assignments name.")
    identity_client_id: str | None = Field(default=None, description="Its client id, which the head's SDK clients authenticate as.")
    ppg_id: str | None = Field(default=None, description="Resource id of the proximity placement group (network.placement: proximity).")
    worker_identity_id: Annotated[str | None, Field(description="Resource id of the workers' identity (az:// checkpoints only).")] = None
    worker_identity_client_id: Annotated[str | None, Field(description="Its client id, exported as AZURE_CLIENT_ID by the workers' `ray start`.")] = (
        None
    )


class LocalRefs(BaseModel):
    """Ports of a local cluster, picked at `up` so two local clusters never collide."""

    model_config = ConfigDict(extra="forbid")

    gcs_port: int = Field(default=6379, description="Ray GCS port of the local head.")
    dashboard_port: int = Field(default=8265, description="Dashboard / Jobs API port of the local head (127.0.0.1 only).")
