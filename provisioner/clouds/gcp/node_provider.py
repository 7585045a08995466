"""Ray's GCP node provider without Ray's IAM step; Ray loads it as `provider.type: external`.

Ray's `bootstrap_gcp` always runs `_configure_iam_role`, which creates the service account
`ray-autoscaler-sa-v1`, grants it roles/storage.objectAdmin, roles/compute.admin,
roles/iam.serviceAccountUser and roles/iam.roleViewer on the whole project, and puts it on the
head, whatever the node configs say. rlcloud has already created a narrower identity and
named it in every node config, so this provider runs Ray's other bootstrap steps (project
check, SSH key, subnet) and skips that one. Everything else (creating, listing, labelling,
terminating VMs) is Ray's own GCPNodeProvider, unchanged.

This file runs on the head as well, where the autoscaler imports it from a directory on
`ray start`'s PYTHONPATH (see compile/gcp.py): it must import nothing from rlcloud.

RLCLOUD_GCE_ENDPOINT / RLCLOUD_CRM_ENDPOINT (also read by rlcloud's client factory) point
the Compute Engine and Resource Manager clients elsewhere (a private endpoint, a fake), with
Application Default Credentials as rlcloud's own clients use them (on the head: its service
account, from the metadata server), anonymous where there are none (an emulator); unset, as on
every real cluster, Ray builds its clients as usual.
"""

from __future__ import annotations

import copy
import os
from typing import Any

# Ray's autoscaler and google-auth's credentials carry no type hints: the `type: ignore`s
# below are for calls into them.
from ray.autoscaler._private.gcp import config as ray_gcp
from ray.autoscaler._private.gcp.node import GCPCompute, GCPNodeType
from ray.autoscaler._private.gcp.node_provider import GCPNodeProvider

COMPUTE_ENDPOINT_ENV = "RLCLOUD_GCE_ENDPOINT"
CRM_ENDPOINT_ENV = "RLCLOUD_CRM_ENDPOINT"


def _credentials() -> Any:
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError:
        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    return credentials


def _overridden_client(env: str, name: str, version: str) -> Any | None:
    endpoint = os.environ.get(env, "").strip().rstrip("/")
    if not endpoint:
        return None
    from googleapiclient import discovery

    # Ray's clients put the service path in the base URL; keep it when replacing the host.
    service_path = "compute/v1/" if name == "compute" else ""
    return discovery.build(
        name,
        version,
        credentials=_credentials(),
        client_options={"api_endpoint": f"{endpoint}/{service_path}"},
        static_discovery=True,
        cache_discovery=False,
    )


def clients(provider_config: dict[str, Any]) -> tuple[Any, Any]:
    """(resource manager, compute) clients for the provider config."""
    compute = _overridden_client(COMPUTE_ENDPOINT_ENV, "compute", "v1")
    crm = _overridden_client(CRM_ENDPOINT_ENV, "cloudresourcemanager", "v1")
    if compute is None or crm is None:
        default_crm, _iam, default_compute, _tpu = ray_gcp.construct_clients_from_provider_config(provider_config)  # type: ignore[no-untyped-call]
        compute = compute or default_compute
        crm = crm or default_crm
    return crm, compute


class RlcloudGcpNodeProvider(GCPNodeProvider):
    def _construct_clients(self) -> None:
        if not os.environ.get(COMPUTE_ENDPOINT_ENV):
            super()._construct_clients()  # type: ignore[no-untyped-call]
            return
        _crm, compute = clients(self.provider_config)
        self.resources = {
            GCPNodeType.COMPUTE: GCPCompute(compute, self.provider_config["project_id"], self.provider_config["availability_zone"], self.cluster_name)
        }

    @staticmethod
    def bootstrap_config(cluster_config: dict[str, Any]) -> dict[str, Any]:
        config = copy.deepcopy(cluster_config)
        ray_gcp.check_legacy_fields(config)  # type: ignore[attr-defined]
        config["head_node"] = {}  # Ray keeps the head's IAM settings here; we set none
        crm, compute = clients(config["provider"])
        # Ray's steps in Ray's order, minus _configure_iam_role.
        config = ray_gcp._configure_project(config, crm)  # type: ignore[no-untyped-call]
        config = ray_gcp._configure_key_pair(config, compute)  # type: ignore[no-untyped-call]
        configured: dict[str, Any] = ray_gcp._configure_subnet(config, compute)  # type: ignore[no-untyped-call]
        return configured
