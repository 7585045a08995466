"""The GCP box server: runs inside the core namespace (started by tests/cloudbox/box.py
through nsenter) and serves, on box addresses only:
- https://CORE_IP  the Google REST APIs rlcloud and Ray call (tests/gcp/fake_gcp: Compute
  Engine, IAM, Resource Manager, Cloud Storage, the OAuth token endpoint), IAM enforced by the
  caller's token, every call in the trail (`calls` on the control socket);
- http://169.254.169.254  the GCE metadata server (each VM's service account tokens);
and turns instances into VMs: every instance the fake reports RUNNING boots, with sshd taking
the keys of its `ssh-keys` metadata.

The operator (the host) is a service account with roles/owner, signing in with a key file
whose token_uri is the box's OAuth endpoint, as a CI job on a real project does.

    python -m tests.cloudbox.gcp.server --state-dir DIR --cidr 10.128.0.0/20 --region us-central1
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import threading
from pathlib import Path
from typing import Any

from tests.cloudbox import network, serving
from tests.cloudbox.machines import GONE, RUNNING, STOPPED, Faults, Instance, Machines
from tests.cloudbox.vm import VmHost, VmSpec
from tests.gcp.fake_gcp import oauth
from tests.gcp.fake_gcp.server import FakeGcp
from tests.support.tls import make_tls_files

PROJECT = "my-rl-project"  # the fake's project (its default network and images live there)
ADMIN_ACCOUNT = "cloudbox-admin"
API_PORT = 443
RAY_NODE_KIND_LABEL = "ray-node-type"  # "head" or "worker", set by Ray's node provider
# GCE's statuses: TERMINATED is a stopped instance (its disk kept); a deleted one is gone.
_STATES = {"RUNNING": RUNNING, "STOPPING": STOPPED, "TERMINATED": STOPPED, "SUSPENDED": STOPPED}
METADATA_NAME = "metadata.google.internal"


def _logins(instance: dict[str, Any]) -> tuple[str, list[str]]:
    """(login user, its public keys) from the `ssh-keys` item ("USER:KEY" lines), as GCE's
    guest agent makes an account for each user; the box's image has one login user, the first."""
    items = {item["key"]: item.get("value", "") for item in instance.get("metadata", {}).get("items", [])}
    entries = [line.split(":", 1) for line in items.get("ssh-keys", "").splitlines() if ":" in line]
    user = entries[0][0].strip() if entries else "ubuntu"
    return user, [key.strip() for name, key in entries if name.strip() == user]


def _spec(image_env: dict[str, str], faults: Faults, instance: dict[str, Any]) -> VmSpec:
    user, keys = _logins(instance)
    return VmSpec(
        vm_id=instance["id"],
        ip=instance["networkInterfaces"][0]["networkIP"],
        hostname=instance["name"],
        user=user,
        authorized_keys=tuple(keys),
        env=tuple(sorted(image_env.items())),
        sshd=faults.sshd_for(instance.get("labels", {}).get(RAY_NODE_KIND_LABEL, "")),
        hosts=((METADATA_NAME, network.METADATA_IP),),
    )


def instances(fake: FakeGcp, image_env: dict[str, str], faults: Faults) -> list[Instance]:
    with fake._lock:
        found = [json.loads(json.dumps(i)) for i in fake.world.instances.values()]
    return [
        Instance(
            i["id"], i["networkInterfaces"][0]["networkIP"], _STATES.get(i.get("status", ""), GONE), functools.partial(_spec, image_env, faults, i)
        )
        for i in found
    ]


def _admin(fake: FakeGcp, token_uri: str, state: Path) -> Path:
    """The operator's account: roles/owner on the project, and a key file for it."""
    world = fake.world
    account = world.add_account(PROJECT, ADMIN_ACCOUNT, "the cloud box's operator")
    policy = world.project_policy(PROJECT)
    policy["bindings"].append({"role": "roles/owner", "members": [f"serviceAccount:{account['email']}"]})
    key = state / "admin-key.json"
    key.write_text(json.dumps(oauth.service_account_key(world, account["email"], token_uri)))
    key.chmod(0o600)
    return key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--cidr", required=True)
    parser.add_argument("--region", required=True)
    args = parser.parse_args(argv)
    state: Path = args.state_dir
    layout = network.Layout.for_cidr(args.cidr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from tests.cloudbox.gcp.metadata import MetadataServer

    files = make_tls_files(state, [layout.core_ip])
    endpoint = f"https://{layout.core_ip}"
    fake = FakeGcp(host=layout.core_ip, port=API_PORT, ssl_context=files.server_context()).start()
    key = _admin(fake, f"{endpoint}/token", state)
    metadata = MetadataServer(fake).start(network.METADATA_IP)

    # Every Google SDK the nodes use, pointed at the box's private endpoint and its CA.
    cloud = {
        **{name: endpoint for name in ("RLCLOUD_GCE_ENDPOINT", "RLCLOUD_IAM_ENDPOINT", "RLCLOUD_CRM_ENDPOINT", "RLCLOUD_GCS_ENDPOINT")},
        "API_ENDPOINT_OVERRIDE": endpoint,  # google-cloud-storage (the runtime's gs:// store)
        "REQUESTS_CA_BUNDLE": str(files.ca_file),  # google-auth, google-cloud-*
        "HTTPLIB2_CA_CERTS": str(files.ca_file),  # google-api-python-client (Ray's GCP clients)
    }
    host = VmHost(state, layout)
    faults = Faults()
    image = serving.image_env(cloud)
    machines = Machines(host, lambda: instances(fake, image, faults))

    def calls(body: dict[str, Any]) -> list[dict[str, Any]]:
        since = float(body.get("since", 0))
        with fake._lock:
            return [c.record() for c in fake.calls if c.time >= since]

    def preempt(body: dict[str, Any]) -> str:
        """GCE preempting a spot VM: `preempted` turns TRUE at once, and after `grace_s` (GCE
        gives 30 s) the instance's termination action runs: DELETE removes it, STOP stops it."""
        with fake._lock:
            found = next(((k, v) for k, v in fake.world.instances.items() if v["name"] == body["name"]), None)
        if found is None:
            raise KeyError(f"no instance {body['name']}")
        key, instance = found
        metadata.mark_preempted(instance["id"])

        def terminate() -> None:
            with fake._lock:
                current = fake.world.instances.get(key)
                if current is None or current["id"] != instance["id"]:
                    return
                if current.get("scheduling", {}).get("instanceTerminationAction") == "DELETE":
                    del fake.world.instances[key]
                else:
                    current["status"] = "TERMINATED"

        threading.Timer(float(body.get("grace_s", 30)), terminate).start()
        return str(instance["id"])

    def world(_: dict[str, Any]) -> dict[str, Any]:
        """What exists in the project, by kind (the tests' view of leftovers)."""
        with fake._lock:
            w = fake.world
            return {
                "instances": {
                    v["name"]: {
                        "ip": v["networkInterfaces"][0]["networkIP"],
                        "status": v.get("status"),
                        "labels": v.get("labels", {}),
                        "service_accounts": [a["email"] for a in v.get("serviceAccounts", [])],
                        "nic_type": v["networkInterfaces"][0].get("nicType", ""),
                        "resource_policies": [p.rsplit("/", 1)[-1] for p in v.get("resourcePolicies", [])],
                        "provisioning_model": v.get("scheduling", {}).get("provisioningModel", "STANDARD"),
                    }
                    for v in w.instances.values()
                },
                "firewalls": sorted(name for (_, name) in w.firewalls),
                "resource_policies": sorted(name for (_, _, name) in w.resource_policies),
                "service_accounts": sorted(w.service_accounts),
                "project_members": sorted({m for p in w.project_policies.values() for b in p.get("bindings", []) for m in b.get("members", [])}),
                "buckets": sorted(w.buckets),
                "bucket_members": {
                    name: sorted({m for b in p.get("bindings", []) for m in b.get("members", [])}) for name, p in w.bucket_policies.items()
                },
                "objects": {
                    b: sorted(n for n, gens in objs.items() if any(w.object_data[(b, n, g)].live for g in gens)) for b, objs in w.objects.items()
                },
            }

    serving.run_box(
        state,
        cloud="gcp",
        host=host,
        machines=machines,
        faults=faults,
        servers=[fake._served(), metadata],
        endpoint=endpoint,
        ca_cert=files.ca_file,
        env={
            **cloud,
            "GOOGLE_APPLICATION_CREDENTIALS": str(key),
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "NO_GCE_CHECK": "true",  # the operator is not a VM: never look for a metadata server
        },
        handlers={"calls": calls, "preempt": preempt, "world": world},
    )


if __name__ == "__main__":
    main()
