"""GCP spec -> Ray autoscaler config (pure).

Node configs name everything explicitly (network + tag the firewall rules target, gVNIC,
compact placement policy, service account, per-instance SSH key) so nothing depends on the
project's default VPC rules or project-wide SSH metadata. The head node type runs as the head's
account and every worker type as the workers' (compile/gcp_accounts.py): workers cannot create
or delete VMs.

Ray's stock GCP bootstrap creates its own service account with project-wide roles/compute.admin
whatever the config says (and puts it on the head). So the config names rlcloud's thin
subclass of Ray's GCP provider (`provider.type: external`), which runs Ray's bootstrap minus
that step. The head's autoscaler loads the same class: the one-file module is shipped with
`file_mounts` into a directory on the head's PYTHONPATH (as a PEP 420 namespace path, so
the rest of rlcloud need not be installed there).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from provisioner import naming
from provisioner.compile.common import base_config, node_type_entry, ship_to_head
from provisioner.compile.context import CompileContext, pending
from provisioner.compile.gcp_accounts import node_accounts
from provisioner.images import gcp_node_image
from provisioner.refs import GcpRefs
from provisioner.spec.models import GcpClusterSpec
from provisioner.spec.resolve import ResolvedNode, resolve_nodes

# Ray loads the node provider by this dotted path, on the operator's machine and on the head.
NODE_PROVIDER_MODULE = "provisioner.clouds.gcp.node_provider"
NODE_PROVIDER_CLASS = f"{NODE_PROVIDER_MODULE}.RlcloudGcpNodeProvider"
# Ray's GCP provider talks to Compute Engine through google-api-python-client, which Deep
# Learning VM and Ubuntu images lack; the version rlcloud is tested with.
HEAD_PIP_PACKAGES = ("google-api-python-client==2.202.0",)


def node_provider_source() -> str:
    """Local path of the node provider module (found without importing it: it imports Ray)."""
    found = importlib.util.find_spec(NODE_PROVIDER_MODULE)
    assert found is not None and found.origin, NODE_PROVIDER_MODULE
    return found.origin


def ship_node_provider(config: dict[str, Any]) -> None:
    """Make the head's autoscaler able to import the provider: the module file, the client
    library it needs, and the module's directory on `ray start`'s PYTHONPATH (the autoscaler
    is a child of `ray start`)."""
    ship_to_head(config, {f"{NODE_PROVIDER_MODULE.replace('.', '/')}.py": node_provider_source()}, HEAD_PIP_PACKAGES)


def _labels(spec: GcpClusterSpec) -> dict[str, str]:
    return {naming.TAG_KEY: spec.name}


def node_config(spec: GcpClusterSpec, node: ResolvedNode, refs: GcpRefs) -> dict[str, Any]:
    inst = node.instance
    assert inst is not None
    image = gcp_node_image(node.image, inst.has_gpu)
    interface: dict[str, Any] = {"network": f"projects/{spec.project}/global/networks/{spec.network.network}"}
    if spec.network.subnetwork:
        interface["subnetwork"] = f"projects/{spec.project}/regions/{spec.region}/subnetworks/{spec.network.subnetwork}"
    if not spec.network.use_internal_ips:
        interface["accessConfigs"] = [{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}]
    if node.fast_networking and image not in refs.images_without_gvnic:
        interface["nicType"] = "GVNIC"
    accounts = node_accounts(spec)
    email = accounts.head if node.is_head else accounts.worker
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
            {
                "acceleratorType": f"projects/{spec.project}/zones/{spec.zone}/acceleratorTypes/{inst.gce_accelerator_type}",
                "acceleratorCount": inst.gpu_count,
            }
        ]
    if inst.has_gpu or node.placement:
        # GPU VMs cannot live-migrate, and several series refuse it in a compact placement policy.
        scheduling["onHostMaintenance"] = "TERMINATE"
    if node.spot:
        scheduling.update({"provisioningModel": "SPOT", "instanceTerminationAction": "DELETE", "automaticRestart": False})
    if scheduling:
        config["scheduling"] = scheduling
    if node.placement:
        config["resourcePolicies"] = [f"projects/{spec.project}/regions/{spec.region}/resourcePolicies/{naming.gcp_placement_policy(spec.name)}"]
    return config


def compile_gcp(spec: GcpClusterSpec, ctx: CompileContext, refs: GcpRefs | None = None) -> dict[str, Any]:
    refs = refs or GcpRefs()
    nodes = resolve_nodes(spec)
    config = base_config(spec, nodes, ctx)
    config["provider"] = {
        "type": "external",
        "module": NODE_PROVIDER_CLASS,
        "region": spec.region,
        "availability_zone": spec.zone,
        "project_id": spec.project,
        "cache_stopped_nodes": False,
        "use_internal_ips": spec.network.use_internal_ips,
    }
    config["auth"] = {"ssh_user": spec.ssh_user, "ssh_private_key": str(ctx.ssh_private_key)}
    ship_node_provider(config)
    for node in nodes:
        config["available_node_types"][node.ray_name] = node_type_entry(node, node_config(spec, node, refs))
    return config
