"""rlcloud's Ray node provider for Azure: Ray's AzureNodeProvider with rlcloud's network,
identity (the head's to the head only: workers get `provider.worker_msi`, or none) and placement. Ray loads it through `provider: {type: external, module: ...}`, on the
operator's machine for `ray up` / `ray down` and on the head for autoscaling.

Why a subclass (rather than our own ARM templates, or Ray's provider as is):
  - Ray's provider reads its VM template from its own package directory, with no option to
    use another, and the template has no proximity placement group parameter. Only code in
    the provider can change what is deployed, so templates of our own would need a subclass
    anyway. The subclass changes the deployment body as it is sent (vm_template.py) and keeps
    every line of Ray's node logic: names, zones, spot settings, tags, deletion.
  - Ray's bootstrap deploys an NSG open to SSH from anywhere and gives the nodes Contributor
    on the resource group; `ray down` then deletes the MSI / NSG / subnet it finds in the
    provider config (which would be a user's own subnet). rlcloud's `up` already made the NSG,
    subnet and identity (with a narrow role), and `rlcloud down` deletes what rlcloud made.
  - Clients come from sdk_clients.ArmClients, like the rest of rlcloud's: the head
    authenticates as the cluster's managed identity, and tests point every client at a local
    fake of ARM.

Shipped to the head as a file (provisioner/compile/azure_head_shipping.py): imports only the standard library, Ray,
the Azure SDK and its shipped siblings.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from threading import RLock
from typing import Any

from ray.autoscaler._private._azure.config import _configure_key_pair
from ray.autoscaler._private._azure.node_provider import AzureNodeProvider, synchronized
from ray.autoscaler._private.constants import MAX_PARALLEL_SHUTDOWN_WORKERS
from ray.autoscaler.node_provider import NodeProvider
from ray.autoscaler.tags import NODE_KIND_HEAD, TAG_RAY_CLUSTER_NAME, TAG_RAY_NODE_KIND

from provisioner.clouds.azure import sdk_clients, vm_template

# Provider config keys rlcloud's `up` fills in (Ray's bootstrap would create these itself).
PROVISIONED_KEYS = ("msi", "nsg", "subnet", "unique_id", "resource_group", "subscription_id", "location")


def _is_head(parameters: dict[str, Any]) -> bool:
    """Whether Ray's deployment body launches the head: Ray tags every VM with its node kind.
    Anything else (a worker, or a body without the tag) gets no identity: fail closed."""
    tags = ((parameters["properties"].get("parameters") or {}).get("vmTags") or {}).get("value") or {}
    return tags.get(TAG_RAY_NODE_KIND) == NODE_KIND_HEAD


class _Deployments:
    """Ray's `resource_client.deployments`, extending each VM template as it is deployed: only
    the head gets the cluster's identity (the autoscaler's role); workers get the workers'
    identity (checkpoint storage only) when the cluster has one, else none."""

    def __init__(self, inner: Any, worker_identity: str | None = None) -> None:
        self._inner = inner
        self._worker_identity = worker_identity

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def begin_create_or_update(self, resource_group_name: str, deployment_name: str, parameters: Any, **kwargs: Any) -> Any:
        extended = vm_template.extend_deployment(parameters, with_identity=_is_head(parameters), worker_identity=self._worker_identity)
        return self._inner.begin_create_or_update(resource_group_name, deployment_name, extended, **kwargs)


class _ResourceClient:
    """Ray's `resource_client` with its deployments extended; everything else as is."""

    def __init__(self, inner: Any, worker_identity: str | None = None) -> None:
        self._inner = inner
        self.deployments = _Deployments(inner.deployments, worker_identity)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RlcloudAzureNodeProvider(AzureNodeProvider):
    def __init__(self, provider_config: dict[str, Any], cluster_name: str) -> None:
        # Not AzureNodeProvider.__init__: it probes three cloud metadata endpoints (seconds off
        # Azure) to choose a DefaultAzureCredential; the clients come from ArmClients instead.
        NodeProvider.__init__(self, provider_config, cluster_name)
        # On the head, DefaultAzureCredential finds the cluster's managed identity through IMDS
        # (AZURE_CLIENT_ID, exported by the head's start command, picks it by client id).
        clients = sdk_clients.ArmClients(provider_config["subscription_id"])
        self.compute_client = clients.compute()
        self.network_client = clients.network()
        # Duck-typed: Ray declares the SDK's client here; the wrapper forwards all but deployments.
        self.resource_client = _ResourceClient(clients.resource(), provider_config.get("worker_msi"))  # type: ignore[assignment]
        self.cache_stopped_nodes = provider_config.get("cache_stopped_nodes", True)
        self.lock = RLock()
        self.cached_nodes: dict[str, Any] = {}
        self.terminating_nodes: dict[str, Any] = {}
        self.termination_executor = ThreadPoolExecutor(max_workers=MAX_PARALLEL_SHUTDOWN_WORKERS)

    @staticmethod
    def bootstrap_config(cluster_config: dict[str, Any]) -> dict[str, Any]:
        """Ray's key pair step only (admin user + public key into each node's parameters);
        the network and identity were made by `rlcloud up`."""
        provider = cluster_config["provider"]
        missing = [key for key in PROVISIONED_KEYS if not provider.get(key)]
        if missing:
            raise ValueError(f"provider config lacks {missing}: render it with `rlcloud up` (it fills them in)")
        configured: dict[str, Any] = _configure_key_pair(cluster_config)  # type: ignore[no-untyped-call]  # Ray's, untyped
        return configured

    def cleanup_cluster_resources(self) -> None:
        """`ray down` leaves the NSG, VNet, identity and role to `rlcloud down`, which deletes
        exactly what rlcloud created (never a subnet or identity the user brought)."""
        self._cleanup_config_cache()

    def _validate_zones_for_node_pool(self, zones: Any, location: str, vm_size: str) -> Any:
        """The zone the spec names, as is. Ray lists every SKU of the subscription to check it
        (slow, and a read the cluster's group-scoped role does not grant); the spec's zone was
        checked against the catalog, and ARM rejects a bad one with a clear error. No zone
        means none: spreading VMs over zones would break a proximity placement group."""
        if zones is None:
            return None
        return sorted(str(z) for z in zones)

    @synchronized  # type: ignore[untyped-decorator]  # Ray's (holds self.lock), untyped
    def _get_filtered_nodes(self, tag_filters: dict[str, str]) -> dict[str, Any]:
        """Ray's, but only the cluster's VMs are inspected: Ray reads every VM of the resource
        group (a NIC and IP lookup each) and fails on a user's VM that has no public IP."""
        wanted = {**tag_filters, TAG_RAY_CLUSTER_NAME: self.cluster_name}
        rg = self.provider_config["resource_group"]
        ours = [
            vm
            for vm in self.compute_client.virtual_machines.list(resource_group_name=rg)
            if (vm.tags or {}).get(TAG_RAY_CLUSTER_NAME) == self.cluster_name
        ]
        extracted: list[dict[str, Any]] = [self._extract_metadata(vm) for vm in ours]  # type: ignore[no-untyped-call]  # Ray's, untyped
        self.cached_nodes = {node["name"]: node for node in extracted}
        self.terminating_nodes = {k: v for k, v in self.terminating_nodes.items() if not v.done()}
        return {name: node for name, node in self.cached_nodes.items() if all((node["tags"] or {}).get(k) == v for k, v in wanted.items())}
