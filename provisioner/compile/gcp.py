"""GCP spec -> Ray autoscaler config (pure).

Node configs name everything explicitly (network + tag the firewall rules target, gVNIC,
compact placement policy, service account, per-instance SSH key) so nothing depends on the
project's default VPC rules or project-wide SSH metadata. Ray's stock GCP bootstrap also
creates its own service account with project-wide roles/compute.admin whatever the config
says; the GCP provisioner (issue 6) runs the cluster through a provider that skips that step.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from provisioner import naming
from provisioner.compile.common import base_config, node_type_entry
from provisioner.compile.context import CompileContext, pending
from provisioner.images import GCP_CPU_IMAGE, GCP_GPU_IMAGE
from provisioner.spec.models import GcpClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes


class GcpRefs(BaseModel):
    """GCP facts known only after provisioning."""

    model_config = ConfigDict(extra="forbid")

    service_account_email: str | None = None
    ssh_public_key: str | None = Field(default=None, description="OpenSSH public key text for instance metadata.")


def _labels(spec: GcpClusterSpec) -> dict[str, str]:
    return {naming.TAG_KEY: spec.name}


def node_config(spec: GcpClusterSpec, node: ResolvedNode, refs: GcpRefs) -> dict[str, Any]:
    inst = node.instance
    assert inst is not None
    image = node.image or (GCP_GPU_IMAGE if inst.has_gpu else GCP_CPU_IMAGE)
    interface: dict[str, Any] = {"network": f"projects/{spec.project}/global/networks/{spec.network.network}"}
    if spec.network.subnetwork:
        interface["subnetwork"] = f"projects/{spec.project}/regions/{spec.region}/subnetworks/{spec.network.subnetwork}"
    if not spec.network.use_internal_ips:
        interface["accessConfigs"] = [{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}]
    if node.fast_networking:
        interface["nicType"] = "GVNIC"
    email = refs.service_account_email or spec.identity.service_account or naming.gcp_service_account_email(spec.name, spec.project)
    ssh_key = refs.ssh_public_key or pending("ssh_public_key")
    config: dict[str, Any] = {
        "machineType": inst.name,
        "disks": [
            {
                "boot": True,
                "autoDelete": True,
                "type": "PERSISTENT",
                "initializeParams": {
                    "diskSizeGb": node.disk_gb,
                    "sourceImage": image,
                    "diskType": f"zones/{spec.zone}/diskTypes/pd-balanced",
                    "labels": _labels(spec),
                },
            }
        ],
        "networkInterfaces": [interface],
        "tags": {"items": [naming.gcp_network_tag(spec.name)]},
        "labels": _labels(spec),
        "serviceAccounts": [{"email": email, "scopes": list(spec.identity.scopes)}],
        # A per-instance key; project-wide SSH keys are blocked on these VMs.
        "metadata": {
            "items": [
                {"key": "ssh-keys", "value": f"{spec.ssh_user}:{ssh_key}"},
                {"key": "block-project-ssh-keys", "value": "true"},
            ]
        },
    }
    scheduling: dict[str, Any] = {}
    if inst.has_gpu:
        config["guestAccelerators"] = [
            {"acceleratorType": f"projects/{spec.project}/zones/{spec.zone}/acceleratorTypes/{inst.gce_accelerator_type}", "acceleratorCount": inst.gpu_count}
        ]
        # GPU VMs cannot live-migrate.
        scheduling["onHostMaintenance"] = "TERMINATE"
    if node.spot:
        scheduling.update({"provisioningModel": "SPOT", "instanceTerminationAction": "DELETE", "automaticRestart": False})
    if scheduling:
        config["scheduling"] = scheduling
    if node.placement:
        config["resourcePolicies"] = [
            f"projects/{spec.project}/regions/{spec.region}/resourcePolicies/{naming.gcp_placement_policy(spec.name)}"
        ]
    return config


def compile_gcp(spec: GcpClusterSpec, ctx: CompileContext, refs: GcpRefs | None = None) -> dict[str, Any]:
    refs = refs or GcpRefs()
    nodes = resolve_nodes(spec)
    config = base_config(spec, nodes, ctx)
    config["provider"] = {
        "type": "gcp",
        "region": spec.region,
        "availability_zone": spec.zone,
        "project_id": spec.project,
        "cache_stopped_nodes": False,
        "use_internal_ips": spec.network.use_internal_ips,
    }
    config["auth"] = {"ssh_user": spec.ssh_user, "ssh_private_key": str(ctx.ssh_private_key)}
    for node in nodes:
        config["available_node_types"][node.ray_name] = node_type_entry(node, node_config(spec, node, refs))
    return config
