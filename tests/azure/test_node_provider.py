"""rlcloud's Ray node provider for Azure, loaded by Ray itself from the rendered YAML
(`provider.type: external`), launching and deleting VMs against the fake ARM server, which
deploys the template the provider sends by evaluating it as ARM would.

What the issue asks of every node: accelerated networking on the NIC where the type has it,
the proximity placement group for groups that ask, the cluster's NSG; the cluster's identity
on the head only (workers run model-generated code: no identity at all); and that `down`
leaves nothing whatever Ray did or did not clean up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError

from provisioner.clouds.azure.head import head_address
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.compile import azure_head_shipping as head_shipping
from provisioner.spec.load import load_spec_text
from tests.azure.cli_steps import down, ray_config, up
from tests.azure.conftest import AzureSubscription
from tests.azure.fake_arm import ALLOCATION_FAILED
from tests.support.specs import AZURE

VM = "Microsoft.Compute/virtualMachines"
NIC = "Microsoft.Network/networkInterfaces"
IP = "Microsoft.Network/publicIPAddresses"
DISK = "Microsoft.Compute/disks"
USER_GROUP_SPEC = AZURE.replace("region: eastus", "region: eastus\nresource_group: team-rg")


def _ray_provider(cluster: str) -> tuple[Any, dict[str, Any]]:
    """Ray's own bootstrap and provider loading, on the YAML `up` wrote."""
    from ray.autoscaler._private.commands import _bootstrap_config
    from ray.autoscaler._private.providers import _get_node_provider

    config = _bootstrap_config(ray_config(cluster), no_config_cache=True)
    return _get_node_provider(config["provider"], config["cluster_name"], use_cache=False), config


def _launch(provider: Any, config: dict[str, Any], node_type: str) -> dict[str, Any]:
    """create_node as Ray's autoscaler calls it; returns the VM the fake now holds."""
    from ray.autoscaler.tags import NODE_KIND_HEAD, NODE_KIND_WORKER, TAG_RAY_NODE_KIND, TAG_RAY_NODE_NAME, TAG_RAY_USER_NODE_TYPE

    head = node_type == config["head_node_type"]
    kind = NODE_KIND_HEAD if head else NODE_KIND_WORKER
    tags = {
        TAG_RAY_NODE_KIND: kind,
        TAG_RAY_NODE_NAME: f"ray-{config['cluster_name']}-{kind}",
        TAG_RAY_USER_NODE_TYPE: node_type,
    }
    before = set(provider.non_terminated_nodes({}))
    provider.create_node(config["available_node_types"][node_type]["node_config"], tags, 1)
    [new] = set(provider.non_terminated_nodes({})) - before
    return new


def _get(azure: AzureSubscription, kind: str, rid: str) -> dict[str, Any]:
    return next(r for r in azure.arm.of_type(kind) if r["id"].lower() == rid.lower())


def _vm(azure: AzureSubscription, name: str) -> dict[str, Any]:
    return next(r for r in azure.arm.of_type(VM) if r["name"] == name)


def test_each_node_gets_accelerated_networking_placement_nsg_and_only_the_head_an_identity(azure: AzureSubscription) -> None:
    up(azure.spec(AZURE))
    provider, config = _ray_provider("t-azure")
    refs = config["provider"]
    ppg = azure.one("Microsoft.Compute/proximityPlacementGroups")["id"]

    nodes = {t: _vm(azure, _launch(provider, config, t)) for t in ("ray.head.default", "learner", "sampler")}
    for node_type, vm in nodes.items():
        props = vm["properties"]
        nic = _get(azure, NIC, props["networkProfile"]["networkInterfaces"][0]["id"])
        ip_config = nic["properties"]["ipConfigurations"][0]["properties"]
        address = _get(azure, IP, ip_config["publicIPAddress"]["id"])
        # Every NIC of these types supports accelerated networking, and has it.
        assert nic["properties"]["enableAcceleratedNetworking"] is True, node_type
        assert nic["properties"]["networkSecurityGroup"]["id"] == refs["nsg"]
        assert ip_config["subnet"]["id"] == refs["subnet"]
        if node_type == "ray.head.default":
            assert vm["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {refs["msi"]: {}}}
        else:
            assert "identity" not in vm, f"{node_type} worker has an identity: {vm['identity']}"
        # Tags on everything the VM brought, so `down` finds it even without Ray.
        for resource in (vm, nic, address):
            assert resource["tags"]["rlcloud-cluster"] == "t-azure" and resource["tags"]["ray-cluster-name"] == "t-azure"
        assert props["storageProfile"]["osDisk"]["deleteOption"] == "Delete"
    # Placement: the on-demand GPU learner is in the group; the head and spot samplers are not.
    assert nodes["learner"]["properties"]["proximityPlacementGroup"]["id"] == ppg
    assert "proximityPlacementGroup" not in nodes["sampler"]["properties"]
    assert "proximityPlacementGroup" not in nodes["ray.head.default"]["properties"]
    assert nodes["sampler"]["properties"]["priority"] == "Spot"
    assert nodes["learner"]["properties"]["hardwareProfile"]["vmSize"] == "Standard_ND96isr_H100_v5"
    members = azure.one("Microsoft.Compute/proximityPlacementGroups")["properties"]["virtualMachines"]
    assert [m["id"] for m in members] == [nodes["learner"]["id"]]
    # The workers' deployments do not even name the identity (ARM checks what they reference).
    deployments = azure.arm.of_type("Microsoft.Resources/deployments")
    assert sorted(d["name"].split(f"-{refs['unique_id']}-")[0] for d in deployments) == [
        "ray-t-azure-head",
        "ray-t-azure-worker",
        "ray-t-azure-worker",
    ]
    for deployment in deployments:
        params = deployment["properties"]["parameters"]
        if deployment["name"].startswith("ray-t-azure-head-"):
            assert params["msi"] == {"value": refs["msi"]}
        else:
            assert refs["msi"] not in json.dumps(params), params

    down(azure.spec(AZURE))
    assert azure.arm.everything() == []


def test_fast_networking_off_and_a_type_without_it(azure: AzureSubscription) -> None:
    text = AZURE.replace("placement: proximity", "placement: proximity\n  fast_networking: 'off'")
    up(azure.spec(text))
    provider, config = _ray_provider("t-azure")
    vm = _vm(azure, _launch(provider, config, "learner"))
    nic = _get(azure, NIC, vm["properties"]["networkProfile"]["networkInterfaces"][0]["id"])
    assert nic["properties"]["enableAcceleratedNetworking"] is False
    down(azure.spec(text))


def test_head_address_is_the_running_heads_public_ip_or_private_with_internal_ips(azure: AzureSubscription) -> None:
    up(azure.spec(AZURE))
    provider, config = _ray_provider("t-azure")
    spec = load_spec_text(AZURE)
    clients = azure.clients()
    layout = AzureLayout.from_spec(spec)  # type: ignore[arg-type]
    assert head_address(layout, clients) is None  # no head yet
    _launch(provider, config, "learner")
    assert head_address(layout, clients) is None  # workers do not count
    head = _vm(azure, _launch(provider, config, "ray.head.default"))
    nic = _get(azure, NIC, head["properties"]["networkProfile"]["networkInterfaces"][0]["id"])
    ip_config = nic["properties"]["ipConfigurations"][0]["properties"]
    public = _get(azure, IP, ip_config["publicIPAddress"]["id"])["properties"]["ipAddress"]
    assert head_address(layout, clients) == public == provider.external_ip(head["name"])

    internal = AzureLayout.from_spec(load_spec_text(AZURE.replace("placement: proximity", "placement: proximity\n  use_internal_ips: true")))  # type: ignore[arg-type]
    assert head_address(internal, clients) == ip_config["privateIPAddress"]

    clients.compute().virtual_machines.begin_deallocate("rlcloud-t-azure", head["name"]).result()
    assert head_address(layout, clients) is None  # stopped is not running


def test_head_lookup_uses_rays_tag_names() -> None:
    from ray.autoscaler import tags

    from provisioner.clouds.azure import head

    assert (head.TAG_RAY_CLUSTER_NAME, head.TAG_RAY_NODE_KIND, head.NODE_KIND_HEAD) == (
        tags.TAG_RAY_CLUSTER_NAME,
        tags.TAG_RAY_NODE_KIND,
        tags.NODE_KIND_HEAD,
    )


def test_ray_terminating_a_node_removes_its_vm_nic_ip_and_disk(azure: AzureSubscription) -> None:
    up(azure.spec(AZURE))
    provider, config = _ray_provider("t-azure")
    node = _launch(provider, config, "sampler")
    assert {len(azure.arm.of_type(k)) for k in (VM, NIC, IP, DISK)} == {1}
    provider.terminate_node(node)
    provider.terminating_nodes[node].result()
    assert [azure.arm.of_type(k) for k in (VM, NIC, IP, DISK)] == [[], [], [], []]
    assert provider.non_terminated_nodes({}) == []


@pytest.mark.parametrize("text", [AZURE, USER_GROUP_SPEC], ids=["rlcloud-group", "user-group"])
def test_down_deletes_nodes_ray_left_behind(azure: AzureSubscription, text: str) -> None:
    clients = azure.clients()
    clients.resource().resource_groups.create_or_update("team-rg", {"location": "eastus"})
    clients.network().network_security_groups.begin_create_or_update("team-rg", "their-nsg", {"location": "eastus"}).result()
    up(azure.spec(text))
    provider, config = _ray_provider("t-azure")
    for node_type in ("ray.head.default", "learner", "sampler", "sampler"):
        _launch(provider, config, node_type)
    assert len(azure.arm.of_type(VM)) == 4

    down(azure.spec(text))
    left = azure.arm.everything()
    assert sorted(left) == [
        f"/subscriptions/{clients.subscription_id}/resourceGroups/team-rg",
        f"/subscriptions/{clients.subscription_id}/resourceGroups/team-rg/providers/Microsoft.Network/networkSecurityGroups/their-nsg",
    ]


def test_a_vm_azure_cannot_allocate_fails_the_deployment_and_down_still_cleans_up(azure: AzureSubscription) -> None:
    clients = azure.clients()
    clients.resource().resource_groups.create_or_update("team-rg", {"location": "eastus"})
    up(azure.spec(USER_GROUP_SPEC))
    provider, config = _ray_provider("t-azure")
    azure.arm.fail_when("PUT", r"virtualMachines/", ALLOCATION_FAILED)
    with pytest.raises(HttpResponseError) as failure:
        provider.create_node(config["available_node_types"]["learner"]["node_config"], {"ray-node-kind": "worker"}, 1)
    assert "AllocationFailed" in str(failure.value)
    # The deployment made the NIC and public IP before the VM failed: orphans Ray never saw.
    assert azure.arm.of_type(VM) == [] and len(azure.arm.of_type(NIC)) == 1 and len(azure.arm.of_type(IP)) == 1

    down(azure.spec(USER_GROUP_SPEC))
    assert azure.arm.everything() == [f"/subscriptions/{clients.subscription_id}/resourceGroups/team-rg"]


def test_rays_own_template_cannot_take_the_placement_group(azure: AzureSubscription) -> None:
    """Why rlcloud extends the template: ARM rejects the parameter Ray's template lacks."""
    import ray.autoscaler._private._azure as ray_azure

    up(azure.spec(AZURE))
    template = json.loads((Path(ray_azure.__file__).parent / "azure-vm-template.json").read_text())
    params = ray_config("t-azure")["available_node_types"]["learner"]["node_config"]["azure_arm_parameters"]
    assert "proximityPlacementGroup" in params
    deployments = azure.clients().resource().deployments
    body = {"properties": {"mode": "Incremental", "template": template, "parameters": {k: {"value": v} for k, v in params.items()}}}
    with pytest.raises(HttpResponseError) as rejected:
        deployments.begin_create_or_update("rlcloud-t-azure", "stock", body).result()
    assert "InvalidTemplate" in str(rejected.value) and "proximityPlacementGroup" in str(rejected.value)


def test_the_shipped_provider_imports_on_a_head_without_rlcloud(tmp_path: Path) -> None:
    """The head has Ray and the Azure SDK but not rlcloud: the shipped files alone must import,
    under the dotted name the provider config gives."""
    home = tmp_path / "home"
    for remote, local in head_shipping.file_mounts().items():
        target = home / remote.removeprefix("~/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(Path(local).read_text())
    module, _, cls = head_shipping.PROVIDER_MODULE.rpartition(".")
    code = (
        "import sys\n"
        # Hide rlcloud's editable install and the checkout, as on the head.
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in getattr(f, '__module__', '')]\n"
        "sys.path_hooks[:] = [h for h in sys.path_hooks if 'editable' not in getattr(h, '__module__', '')]\n"
        "sys.path_importer_cache.clear()\n"
        f"import {module} as m\n"
        f"assert m.{cls}.__name__ == {cls!r}\n"
        "print(m.__file__)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(home / ".rlcloud" / "python")}
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(home))


def test_with_blob_checkpoints_workers_get_the_worker_identity_and_never_the_heads(azure: AzureSubscription) -> None:
    text = AZURE + "storage:\n  checkpoint_uri: az://tazckpt/runs/exp1\n  create_bucket: true\n"
    up(azure.spec(text))
    provider, config = _ray_provider("t-azure")
    head_msi, worker_msi = config["provider"]["msi"], config["provider"]["worker_msi"]
    assert head_msi != worker_msi and worker_msi.endswith("/userAssignedIdentities/rlcloud-t-azure-worker")

    nodes = {t: _vm(azure, _launch(provider, config, t)) for t in ("ray.head.default", "learner", "sampler")}
    assert nodes["ray.head.default"]["identity"]["userAssignedIdentities"] == {head_msi: {}}
    for node_type in ("learner", "sampler"):
        assert nodes[node_type]["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {worker_msi: {}}}, node_type
    # What was sent: the head's deployment names the head's identity only, each worker's the
    # worker identity only.
    for deployment in azure.arm.of_type("Microsoft.Resources/deployments"):
        sent = json.dumps(deployment["properties"]["parameters"])
        head = deployment["name"].startswith("ray-t-azure-head-")
        assert (head_msi in sent, worker_msi in sent) == (head, not head), deployment["name"]

    down(azure.spec(text))
    assert sorted(r.split("/")[-1] for r in azure.arm.everything()) == sorted(["rlcloud-t-azure-data", "tazckpt", "default", "runs"])


def test_a_deployment_that_is_not_the_heads_never_gets_the_head_identity() -> None:
    """Fail closed: a body without the head's tag, whose identity cannot be swapped cleanly
    (the head's id also appears elsewhere), gets no identity rather than the head's."""
    from provisioner.clouds.azure import vm_template

    head_msi = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/head"
    template = {
        "parameters": {"msi": {"type": "string"}, "note": {"type": "string"}},
        "resources": [
            {
                "type": "Microsoft.Compute/virtualMachines",
                "identity": {"type": "UserAssigned", "userAssignedIdentities": {"[parameters('msi')]": {}}},
                "properties": {"storageProfile": {"osDisk": {}}, "networkProfile": {"networkInterfaces": []}, "userData": "[parameters('note')]"},
            }
        ],
    }
    body = {"properties": {"template": template, "parameters": {"msi": {"value": head_msi}, "note": {"value": head_msi}}}}
    out = vm_template.extend_deployment(body, with_identity=False, worker_identity="/x/worker")
    assert "identity" not in out["properties"]["template"]["resources"][0]
    assert "msi" not in out["properties"]["parameters"]
    clean = {"properties": {"template": template, "parameters": {"msi": {"value": head_msi}, "note": {"value": "hi"}}}}
    swapped = vm_template.extend_deployment(clean, with_identity=False, worker_identity="/x/worker")
    assert swapped["properties"]["parameters"]["msi"] == {"value": "/x/worker"} and head_msi not in json.dumps(swapped)
