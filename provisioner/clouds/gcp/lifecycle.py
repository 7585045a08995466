"""The CloudProvisioner verbs for GCP: the steps in dependency order for `up`, reversed for
`down` with the VMs first (a placement policy cannot go while a VM uses it; a service account
loses its bindings before it is deleted: on `up`, a legacy account from before the head /
worker split goes last, after the project and bucket steps revoked its grants).

`down` reads what exists from the cloud as well as from the state file, so it also works
when the state is gone or stale: rules and policies by name plus the cluster marker in their
description, the service account by name plus marker, VMs by label and name, the bucket by
its rlcloud-managed label.
"""

from __future__ import annotations

from collections.abc import Callable

from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.gcp.bucket import CheckpointStep
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import read_or_none
from provisioner.clouds.gcp.firewall import FirewallStep
from provisioner.clouds.gcp.identity import IdentityStep
from provisioner.clouds.gcp.images import images_without_gvnic
from provisioner.clouds.gcp.instances import InstancesStep, head_address
from provisioner.clouds.gcp.legacy import LegacyAccountStep
from provisioner.clouds.gcp.placement import PlacementStep
from provisioner.clouds.gcp.scope import Scope, Step
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.refs import GcpRefs
from provisioner.spec.models import GcpClusterSpec


def check_network(clients: GcpClients, spec: GcpClusterSpec) -> None:
    """The VPC network (and subnetwork) must exist: rlcloud never creates or deletes them."""
    network, subnetwork = spec.network.network, spec.network.subnetwork
    if read_or_none(f"reading network {network}", spec.project, lambda: clients.networks.get(project=spec.project, network=network)) is None:
        raise CloudError(
            f"VPC network {network} does not exist in project {spec.project}",
            hint="create it (gcloud compute networks create NAME) or set network.network to an existing one",
        )
    if (
        subnetwork
        and read_or_none(
            f"reading subnetwork {subnetwork}",
            spec.project,
            lambda: clients.subnetworks.get(project=spec.project, region=spec.region, subnetwork=subnetwork),
        )
        is None
    ):
        raise CloudError(
            f"subnetwork {subnetwork} does not exist in {spec.region} of project {spec.project}",
            hint="create it in the cluster's region or fix network.subnetwork",
        )


class GcpProvisioner:
    cloud = "gcp"

    def __init__(self, make_clients: Callable[[str], GcpClients] = GcpClients) -> None:
        self.make_clients = make_clients

    def _scope(self, ctx: ProvisionContext) -> Scope:
        spec = ctx.spec
        assert isinstance(spec, GcpClusterSpec)
        return Scope(clients=self.make_clients(spec.project), ctx=ctx)

    @staticmethod
    def _up_steps(scope: Scope) -> list[Step]:
        return [FirewallStep(scope), PlacementStep(scope), IdentityStep(scope), CheckpointStep(scope), LegacyAccountStep(scope)]

    @staticmethod
    def _down_steps(scope: Scope) -> list[Step]:
        return [InstancesStep(scope), CheckpointStep(scope), IdentityStep(scope), PlacementStep(scope), FirewallStep(scope)]

    # ------------------------------------------------------------------ up
    def plan_up(self, ctx: ProvisionContext) -> list[PlannedResource]:
        scope = self._scope(ctx)
        check_network(scope.clients, scope.spec)
        planned: list[PlannedResource] = []
        for step in self._up_steps(scope):
            planned += step.plan_up()
        return planned

    def apply(self, ctx: ProvisionContext) -> GcpRefs:
        scope = self._scope(ctx)
        spec = scope.spec
        check_network(scope.clients, spec)
        # Read-only checks first: a bad image fails `up` before anything exists.
        lacking = images_without_gvnic(scope.clients, spec)
        for image in lacking:
            scope.step(f"image {image} does not support gVNIC; its VMs keep the default NIC")
        for step in self._up_steps(scope):
            step.apply()
        return GcpRefs(ssh_public_key=ctx.ssh_public_key, images_without_gvnic=lacking)

    # ------------------------------------------------------------------ down
    def plan_down(self, ctx: ProvisionContext, purge_storage: bool) -> list[PlannedResource]:
        scope = self._scope(ctx)
        planned: list[PlannedResource] = []
        for step in self._down_steps(scope):
            planned += step.plan_down(purge_storage)
        return planned

    def destroy(self, ctx: ProvisionContext, purge_storage: bool) -> list[str]:
        scope = self._scope(ctx)
        left: list[str] = []
        for step in self._down_steps(scope):
            try:
                left += step.destroy(purge_storage)
            except CloudError as exc:  # a read failed: report it, and still try the other steps
                left.append(f"{type(step).__name__.removesuffix('Step').lower()}: {exc.message}")
        return left

    # ------------------------------------------------------------------ connect
    def head_address(self, ctx: ProvisionContext) -> str | None:
        scope = self._scope(ctx)
        spec = scope.spec
        return head_address(scope.clients, spec.name, spec.zone, internal=spec.network.use_internal_ips)
