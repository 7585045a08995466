"""The Azure box server: runs inside the core namespace (started by tests/cloudbox/box.py
through nsenter) and serves, on box addresses only:
- https://CORE_IP  Azure Resource Manager (tests/azure/fake_arm) and the AD FS sign-in the
  operator uses, bearer tokens and RBAC enforced (services.py, rbac.py);
- https://CORE_IP:10000/ACCOUNT  Blob storage (tests/azure/fake_blob), its accounts and
  containers those made through Resource Manager, data access by the ARM role assignments;
- http://169.254.169.254  the Instance Metadata Service (each VM's managed identity tokens,
  instance metadata, scheduled events);
every call in the trail (`calls` on the control socket); and turns virtual machines into VMs:
every VM the ARM fake holds in power state running boots at its NIC's private IP, with sshd
taking the keys of its osProfile, for its adminUsername.

The operator (the host) is a service principal with Owner on the subscription, signing in
with a client secret against the box's AD FS, as a pipeline against Azure Stack Hub does.

    python -m tests.cloudbox.azure.server --state-dir DIR --cidr 10.0.0.0/16 --region eastus
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from tests.azure.fake_arm.store import BUILTIN_ROLES
from tests.cloudbox import network, serving
from tests.cloudbox.azure import machines
from tests.cloudbox.azure.directory import TENANT, Directory
from tests.cloudbox.azure.imds import AzureImds
from tests.cloudbox.azure.rbac import DATA_ROLES, OWNER, Grant
from tests.cloudbox.azure.services import BoxArm, BoxBlob, BoxBlobWorld
from tests.cloudbox.azure.trail import Trail
from tests.cloudbox.machines import Faults, Machines
from tests.cloudbox.vm import VmHost
from tests.support.tls import make_tls_files

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"  # examples/cloudbox/azure.yaml's
ADMIN_APP = "cloudbox-admin"
API_PORT = 443
BLOB_PORT = 10000  # Blob's own port, path-style (as Azurite and Azure Stack address accounts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--cidr", required=True)
    parser.add_argument("--region", required=True)
    args = parser.parse_args(argv)
    state: Path = args.state_dir
    layout = network.Layout.for_cidr(args.cidr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    files = make_tls_files(state, [layout.core_ip])
    context = files.server_context()
    endpoint = f"https://{layout.core_ip}"
    blob_endpoint = f"https://{layout.core_ip}:{BLOB_PORT}"

    # One token table (the Blob world's) for both services; the trail names principals by
    # the directory (the operator) or the ARM fake (managed identities).
    def name_of(principal: str) -> str | None:
        return directory.application_named(principal) or arm.identity_named(principal)

    trail = Trail(name_of)
    world = BoxBlobWorld()
    directory = Directory(world, endpoint)
    arm = BoxArm(directory, trail, world)
    rbac = world.rbac = arm.rbac

    admin = directory.add_application(ADMIN_APP)
    rbac.seeded.append(Grant(admin.object_id, OWNER, f"/subscriptions/{SUBSCRIPTION}"))

    arm.serve(layout.core_ip, API_PORT, context)
    blob = BoxBlob(world, directory, trail, host=layout.core_ip, port=BLOB_PORT, ssl_context=context).start()
    imds = AzureImds(arm, directory, trail).start(network.METADATA_IP)

    # Every Azure SDK the nodes use, pointed at the box's private endpoints and its CA.
    cloud = {
        "RLCLOUD_AZURE_ENDPOINT": endpoint,
        "RLCLOUD_AZURE_BLOB_ENDPOINT": f"{blob_endpoint}/{{account}}",
        "RLCLOUD_AZURE_POLLING_INTERVAL": "1",
        "REQUESTS_CA_BUNDLE": str(files.ca_file),  # azure-core's requests transport
    }
    host = VmHost(state, layout)
    faults = Faults()
    image = serving.image_env(cloud)
    vms = Machines(host, lambda: machines.instances(arm, image, faults))

    def calls(body: dict[str, Any]) -> list[dict[str, Any]]:
        return trail.since(float(body.get("since", 0)))

    def preempt(body: dict[str, Any]) -> str:
        return imds.preempt(body["name"], float(body.get("grace_s", 30)))

    def world_view(_: dict[str, Any]) -> dict[str, Any]:
        """What the subscription holds (the tests' view of leftovers and of who may do what)."""
        roles = {**BUILTIN_ROLES, **DATA_ROLES, OWNER: "Owner"}
        with arm.lock:
            store = arm.store
            for guid, definition in store.role_definitions.items():
                roles[guid] = definition["properties"].get("roleName", guid)
            vms_json = {
                vm["name"]: {
                    "ip": machines.private_ip(arm, vm),
                    "power_state": machines.power_state(arm, vm),
                    "tags": vm.get("tags") or {},
                    "identities": sorted(k.rsplit("/", 1)[-1] for k in ((vm.get("identity") or {}).get("userAssignedIdentities") or {})),
                    "priority": vm["properties"].get("priority", "Regular"),
                    "vm_size": (vm["properties"].get("hardwareProfile") or {}).get("vmSize", ""),
                    "placement_group": ((vm["properties"].get("proximityPlacementGroup") or {}).get("id") or "").rsplit("/", 1)[-1],
                    "accelerated_networking": [
                        bool((store.get(n["id"]) or {}).get("properties", {}).get("enableAcceleratedNetworking"))
                        for n in vm["properties"].get("networkProfile", {}).get("networkInterfaces", [])
                    ],
                }
                for vm in store.of_type(machines.VM_TYPE)
            }
            resources = sorted(r["id"] for r in store.resources.values() if r.get("type") != "Microsoft.Resources/deployments")
            assignments = [
                {
                    "principal": name_of(a["properties"]["principalId"]) or a["properties"]["principalId"],
                    "role": roles.get(a["properties"]["roleDefinitionId"].rsplit("/", 1)[-1].lower(), a["properties"]["roleDefinitionId"]),
                    "scope": a["properties"]["scope"],
                }
                for a in store.role_assignments.values()
            ]
            role_definitions = sorted(d["properties"].get("roleName", "") for d in store.role_definitions.values())
            identities = {
                i["name"]: {"client_id": i["properties"]["clientId"], "principal_id": i["properties"]["principalId"]}
                for i in store.of_type("Microsoft.ManagedIdentity/userAssignedIdentities")
            }
        with world.lock:
            blobs = {f"{a}/{c}": sorted(container.blobs) for a, containers in world.accounts.items() for c, container in containers.items()}
        return {
            "virtual_machines": vms_json,
            "resources": resources,
            "role_assignments": assignments,
            "role_definitions": role_definitions,
            "identities": identities,
            "blobs": blobs,
        }

    serving.run_box(
        state,
        cloud="azure",
        host=host,
        machines=vms,
        faults=faults,
        servers=[arm._served(), blob._served(), imds],
        endpoint=endpoint,
        ca_cert=files.ca_file,
        env={
            **cloud,
            # The operator: a service principal signing in with its secret at the box's AD FS.
            "AZURE_AUTHORITY_HOST": endpoint,
            "AZURE_TENANT_ID": TENANT,
            "AZURE_CLIENT_ID": admin.client_id,
            "AZURE_CLIENT_SECRET": admin.secret,
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
        },
        handlers={"calls": calls, "preempt": preempt, "world": world_view},
    )


if __name__ == "__main__":
    main()
