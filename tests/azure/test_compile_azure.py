"""The Azure compiler's output against what Ray's Azure provider and its ARM template accept:
every parameter the compiler writes is one Ray's template (or rlcloud's extension of it)
declares, since ARM rejects a deployment with any other."""

from __future__ import annotations

import json
from pathlib import Path

from provisioner.clouds.azure import vm_template
from provisioner.compile import CompileContext, find_pending
from provisioner.compile import azure_head_shipping as head_shipping
from provisioner.drivers import compile_cluster
from provisioner.refs import AzureRefs
from provisioner.spec.load import load_spec_text
from provisioner.spec.resolve import resolve_nodes
from tests.support.specs import AZURE

CTX = CompileContext(state_dir=Path("/tmp/rlcloud-test-state"))
REFS = AzureRefs(
    resource_group="rlcloud-t-azure",
    subnet_id="/subscriptions/s/resourceGroups/rlcloud-t-azure/providers/Microsoft.Network/virtualNetworks/v/subnets/s",
    nsg_id="/subscriptions/s/resourceGroups/rlcloud-t-azure/providers/Microsoft.Network/networkSecurityGroups/n",
    identity_id="/subscriptions/s/resourceGroups/rlcloud-t-azure/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i",
    identity_client_id="0000aaaa-1111-2222-3333-444455556666",
    ppg_id="/subscriptions/s/resourceGroups/rlcloud-t-azure/providers/Microsoft.Compute/proximityPlacementGroups/p",
)


def _ray_template() -> dict:
    import ray.autoscaler._private._azure as ray_azure

    return json.loads((Path(ray_azure.__file__).parent / "azure-vm-template.json").read_text())


def test_every_arm_parameter_is_one_the_deployed_template_declares() -> None:
    text = AZURE.replace("region: eastus", "region: eastus\nzone: '2'")
    config = compile_cluster(load_spec_text(text), CTX, REFS)
    template = _ray_template()
    for name, node_type in config["available_node_types"].items():
        params = dict(node_type["node_config"]["azure_arm_parameters"])
        assert params.pop("availability_zone") == "2"  # Ray turns this into the template's `zones`
        extended = vm_template.extend_template(template, with_ppg=vm_template.PPG_PARAMETER in params)
        unknown = set(params) - set(extended["parameters"])
        assert unknown == set(), f"{name}: ARM would reject {unknown}"


def test_fast_networking_and_placement_follow_the_resolved_nodes() -> None:
    spec = load_spec_text(AZURE)
    config = compile_cluster(spec, CTX, REFS)
    for node in resolve_nodes(spec):
        params = config["available_node_types"][node.ray_name]["node_config"]["azure_arm_parameters"]
        assert params["enableAcceleratedNetworking"] is node.fast_networking
        assert params.get("proximityPlacementGroup") == (REFS.ppg_id if node.placement else None)
    assert [n.group for n in resolve_nodes(spec) if n.placement] == ["learner"]


def test_provider_is_rlclouds_and_is_complete_only_after_up() -> None:
    spec = load_spec_text(AZURE)
    before = compile_cluster(spec, CTX)
    assert {p.split(" = ")[0] for p in find_pending(before)} == {
        "provider.msi",
        "provider.nsg",
        "provider.subnet",
        "available_node_types.learner.node_config.azure_arm_parameters.proximityPlacementGroup",
    }
    after = compile_cluster(spec, CTX, REFS)
    assert find_pending(after) == []
    provider = after["provider"]
    assert provider["type"] == "external" and provider["module"] == head_shipping.PROVIDER_MODULE
    assert (provider["msi"], provider["nsg"], provider["subnet"]) == (REFS.identity_id, REFS.nsg_id, REFS.subnet_id)
    assert provider["cache_stopped_nodes"] is False  # down terminates rather than stops

    from ray.autoscaler._private.providers import _get_node_provider_cls

    assert _get_node_provider_cls(provider).__name__ == "RlcloudAzureNodeProvider"  # as Ray loads it


def test_the_head_gets_the_provider_its_sdk_and_the_identity_to_use() -> None:
    config = compile_cluster(load_spec_text(AZURE), CTX, REFS)
    for remote, local in head_shipping.file_mounts().items():
        assert remote in config["file_mounts"] and Path(local).is_file()
    assert config["head_setup_commands"][0].startswith("python3 -m pip install") and "msrestazure" in config["head_setup_commands"][0]
    start = next(c for c in config["head_start_ray_commands"] if "ray start" in c)
    assert start.startswith("export PYTHONPATH=$HOME/.rlcloud/python")
    assert f"export AZURE_CLIENT_ID={REFS.identity_client_id};" in start
    assert not any("PYTHONPATH" in c for c in config["worker_start_ray_commands"])


def _deployment(template: dict, params: dict) -> dict:
    return {"properties": {"mode": "Incremental", "template": template, "parameters": {k: {"value": v} for k, v in params.items()}}}


def test_rays_template_still_gives_every_vm_the_identity_that_workers_lose() -> None:
    """What the worker edit relies on, in Ray's stock template: the VM's identity is the only
    place the `msi` parameter Ray passes is used. If a Ray upgrade changes that, this fails."""
    template = _ray_template()
    [vm] = [r for r in template["resources"] if r["type"].lower() == vm_template.VM]
    assert vm["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {"[parameters('msi')]": {}}}
    assert [r["type"] for r in template["resources"] if "identity" in r] == [vm["type"]]
    assert json.dumps({k: v for k, v in template.items() if k != "parameters"}).count("parameters('msi')") == 1

    params = {"msi": REFS.identity_id, "vmName": "w", "nsg": REFS.nsg_id}
    worker = vm_template.extend_deployment(_deployment(template, params), with_identity=False)["properties"]
    assert not any("identity" in r for r in worker["template"]["resources"])
    assert "msi" not in worker["template"]["parameters"] and "msi" not in worker["parameters"]
    assert "parameters('msi')" not in json.dumps(worker["template"])
    assert set(worker["parameters"]) == {"vmName", "nsg"}  # only what the identity used is dropped
    head = vm_template.extend_deployment(_deployment(template, params), with_identity=True)["properties"]
    assert [r.get("identity") for r in head["template"]["resources"] if r["type"].lower() == vm_template.VM] == [vm["identity"]]
    assert head["parameters"]["msi"] == {"value": REFS.identity_id}


def test_the_worker_edit_follows_the_template_not_its_text() -> None:
    """A Ray template that renamed the parameter, spelled it in other case, gave a second
    resource an identity, or used the parameter elsewhere too: workers still get no identity,
    and a parameter something else uses stays."""
    template = _ray_template()
    [vm] = [r for r in template["resources"] if r["type"].lower() == vm_template.VM]
    template["parameters"]["nodeIdentity"] = template["parameters"].pop("msi")
    vm["identity"] = {"type": "UserAssigned", "userAssignedIdentities": {"[parameters('NodeIdentity')]": {}}}
    template["resources"].append({"type": "Microsoft.Compute/virtualMachines/extensions", "name": "x", "identity": {"type": "SystemAssigned"}})
    body = _deployment(template, {"nodeIdentity": REFS.identity_id, "nsg": REFS.nsg_id, "vmName": "w"})
    worker = vm_template.extend_deployment(body, with_identity=False)["properties"]
    assert not any("identity" in r for r in worker["template"]["resources"])
    assert set(worker["parameters"]) == {"nsg", "vmName"} and "nodeIdentity" not in worker["template"]["parameters"]

    template["outputs"]["identityUsed"] = {"type": "string", "value": "[parameters('nodeIdentity')]"}  # used elsewhere too
    worker = vm_template.extend_deployment(_deployment(template, {"nodeIdentity": REFS.identity_id}), with_identity=False)["properties"]
    assert not any("identity" in r for r in worker["template"]["resources"])
    assert "nodeIdentity" in worker["template"]["parameters"] and "nodeIdentity" in worker["parameters"]  # ARM needs it declared and given
