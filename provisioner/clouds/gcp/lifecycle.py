"""The CloudProvisioner verbs for GCP, in dependency order for `up`: the firewall rules and
the placement policy through the shared reconciler (provisioner/clouds/reconcile.py: plan and
`up` run the same reads and decisions), then the identity and checkpoint steps (scope.py's
Step classes). `down` goes the other way: the VMs first (a placement policy cannot go while
a VM uses it), bindings before the accounts holding them, then the reconciler's resources.

`down` reads what exists from the cloud as well as from the state file, so it also works
when the state is gone or stale: rules and policies by name plus the cluster marker in their
description, the service account by name plus marker, VMs by label and name, the bucket by
its rlcloud-managed label.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.gcp import firewall, placement
from provisioner.clouds.gcp.bucket import CheckpointStep
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS, unless_missing
from provisioner.clouds.gcp.identity import IdentityStep
from provisioner.clouds.gcp.images import images_without_gvnic
from provisioner.clouds.gcp.instances import InstancesStep, head_address
from provisioner.clouds.gcp.scope import Scope, Step
from provisioner.clouds.reconcile import Reconciler, Resource
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.refs import GcpRefs
from provisioner.spec.models import GcpClusterSpec

# The kinds the reconciler runs; the other steps are still Step classes (scope.py).
RECONCILED = (firewall.KIND, placement.KIND)


def check_network(clients: GcpClients, spec: GcpClusterSpec) -> None:
    """The VPC network (and subnetwork) must exist: rlcloud never creates or deletes them."""
    network, subnetwork = spec.network.network, spec.network.subnetwork
    with ERRORS.calls(f"reading network {network}"):
        found = unless_missing(lambda: clients.networks.get(project=spec.project, network=network))
    if found is None:
        raise CloudError(
            f"VPC network {network} does not exist in project {spec.project}",
            hint="create it (gcloud compute networks create NAME) or set network.network to an existing one",
        )
    if not subnetwork:
        return
    with ERRORS.calls(f"reading subnetwork {subnetwork}"):
        found = unless_missing(lambda: clients.subnetworks.get(project=spec.project, region=spec.region, subnetwork=subnetwork))
    if found is None:
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
    def _engine(scope: Scope, *, apply: bool, region: str | None = None) -> Reconciler:
        return Reconciler(ctx=scope.ctx, errors=ERRORS, apply=apply, region=region)

    def _reconcile_up(self, scope: Scope, *, apply: bool) -> list[PlannedResource]:
        """Firewall rules (global: no region in state), then the placement policy when a group
        asks for one; the same reads and decisions for `plan` and `up`."""
        spec = scope.spec
        rules = self._engine(scope, apply=apply)
        for rule in firewall.rule_resources(scope.clients, spec, scope.ctx.ssh_cidrs):
            rules.ensure(rule)
        planned = rules.planned
        if placement.placed_groups(spec):
            policies = self._engine(scope, apply=apply, region=spec.region)
            policies.ensure(placement.policy_resource(scope.clients, spec))
            planned = planned + policies.planned
        return planned

    @staticmethod
    def _survey(scope: Scope) -> Callable[[], Sequence[Resource[Any]]]:
        """What `down` deletes through the reconciler: found by name and the cluster marker,
        whatever the state file says. The VMs that used them are gone by then (InstancesStep)."""
        return lambda: [placement.policy_resource(scope.clients, scope.spec), *firewall.rule_resources(scope.clients, scope.spec, [])]

    @staticmethod
    def _up_steps(scope: Scope) -> list[Step]:
        return [IdentityStep(scope), CheckpointStep(scope)]

    @staticmethod
    def _down_steps(scope: Scope) -> list[Step]:
        return [InstancesStep(scope), CheckpointStep(scope), IdentityStep(scope)]

    # ------------------------------------------------------------------ up
    def plan_up(self, ctx: ProvisionContext) -> list[PlannedResource]:
        scope = self._scope(ctx)
        check_network(scope.clients, scope.spec)
        planned = self._reconcile_up(scope, apply=False)
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
        self._reconcile_up(scope, apply=True)
        for step in self._up_steps(scope):
            step.apply()
        return GcpRefs(ssh_public_key=ctx.ssh_public_key, images_without_gvnic=lacking)

    # ------------------------------------------------------------------ down
    def plan_down(self, ctx: ProvisionContext, purge_storage: bool) -> list[PlannedResource]:
        scope = self._scope(ctx)
        planned: list[PlannedResource] = []
        for step in self._down_steps(scope):
            planned += step.plan_down(purge_storage)
        # Only the reconciled kinds: the steps above show the user's own resources themselves.
        return planned + [p for p in self._engine(scope, apply=False).plan_down(self._survey(scope)) if p.kind in RECONCILED]

    def destroy(self, ctx: ProvisionContext, purge_storage: bool) -> list[str]:
        scope = self._scope(ctx)
        left: list[str] = []
        for step in self._down_steps(scope):
            try:
                left += step.destroy(purge_storage)
            except CloudError as exc:  # a read failed: report it, and still try the other steps
                left.append(f"{type(step).__name__.removesuffix('Step').lower()}: {exc.message}")
        # One pass: nothing of these appears meanwhile (the VMs are gone), and what failed is
        # reported with its command rather than tried again.
        try:
            left += [str(item) for item in self._engine(scope, apply=True).down(self._survey(scope), passes=1)]
        except CloudError as exc:
            left.append(f"firewall rules and placement policy: {exc.message}")
        return left

    # ------------------------------------------------------------------ connect
    def head_address(self, ctx: ProvisionContext) -> str | None:
        scope = self._scope(ctx)
        spec = scope.spec
        return head_address(scope.clients, spec.name, spec.zone, internal=spec.network.use_internal_ips)
