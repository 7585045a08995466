"""The CloudProvisioner verbs for GCP, every resource through the shared reconciler
(provisioner/clouds/reconcile.py: plan and `up` run the same reads and decisions).

`up`, in dependency order: (gs:// checkpoints) the user's bucket checked first, so a missing
one fails before anything is made -> firewall rules -> the placement policy (when a group asks
for one) -> the head's and the workers' service accounts -> the head's grant on the project
and its actAs on the worker account -> the checkpoint bucket -> the accounts' grant on it.

`down` reads what exists from the cloud as well as from the state file, so it also works
when the state is gone or stale: VMs by label and name, rules and policies by name plus the
cluster marker in their description, accounts by name plus marker, the bucket by its label.
The reconciler deletes the VMs first (a placement policy cannot go while a VM uses it),
bindings before the accounts they name, the worker account before the head's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.gcp import bucket, firewall, identity, instances, placement
from provisioner.clouds.gcp.accounts import node_accounts
from provisioner.clouds.gcp.clients import GcpClients
from provisioner.clouds.gcp.errors import ERRORS, unless_missing
from provisioner.clouds.gcp.images import images_without_gvnic
from provisioner.clouds.reconcile import Reconciler, Resource, gone
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.refs import GcpRefs
from provisioner.spec.models import GcpClusterSpec

KEPT_BUCKET = "checkpoints kept; --purge-storage deletes it"
# `down` deletes in one pass, then reads again to report what is left: Ray is stopped before
# it, so nothing new appears meanwhile, and what GCP refused is reported with its command
# rather than tried again (a re-run finishes).
DOWN_PASSES = 1


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

    @staticmethod
    def _spec(ctx: ProvisionContext) -> GcpClusterSpec:
        spec = ctx.spec
        assert isinstance(spec, GcpClusterSpec)
        return spec

    def _setup(self, ctx: ProvisionContext, *, apply: bool) -> tuple[GcpClusterSpec, GcpClients, Reconciler]:
        spec = self._spec(ctx)
        # Firewall rules and service accounts are global: no region in the state; regional
        # resources (placement policy, bucket) say theirs.
        return spec, self.make_clients(spec.project), Reconciler(ctx=ctx, errors=ERRORS, apply=apply)

    # ------------------------------------------------------------------ up
    def _ensure_all(self, ctx: ProvisionContext, *, apply: bool) -> Reconciler:
        spec, clients, engine = self._setup(ctx, apply=apply)
        check_network(clients, spec)
        checkpoints = self._bucket(ctx, clients)
        for rule in firewall.rule_resources(clients, spec, ctx.ssh_cidrs):
            engine.ensure(rule)
        if placement.placed_groups(spec):
            engine.ensure(placement.policy_resource(clients, spec))
        for resource in identity.identity_resources(clients, spec, ctx.state):
            engine.ensure(resource)
        if checkpoints is not None:
            found = engine.ensure(checkpoints)
            nodes = node_accounts(spec)
            if nodes.created:  # accounts the user names keep their bindings
                holdings = bucket.bucket_holdings(spec, uniform_access=found is None or bucket.has_uniform_access(found))
                engine.ensure(bucket.bucket_bindings(clients, checkpoints.expected_id, [nodes.head, nodes.worker], holdings))
        return engine

    @staticmethod
    def _bucket(ctx: ProvisionContext, clients: GcpClients) -> Resource[Any] | None:
        """The gs:// checkpoint bucket's declaration: rlcloud's (to create, or created earlier:
        recorded or labelled), or the user's, used as is. A user's bucket that is missing
        stops `up` here, before anything is made."""
        spec = ctx.spec
        assert isinstance(spec, GcpClusterSpec)
        name = bucket.checkpoint_bucket(spec)
        if name is None:
            return None
        recorded = any(r.kind == bucket.KIND and r.id == name and r.created for r in ctx.state.resources)
        found = bucket.get_bucket(clients, name)
        if found is not None and (recorded or bucket.is_managed(found, spec.name)):
            return bucket.bucket_resource(clients, spec, name, recorded=recorded)
        if found is not None:
            return bucket.users_bucket(clients, name)
        if not spec.storage.create_bucket:
            raise CloudError(
                f"checkpoint bucket gs://{name} does not exist", hint="create it, or set storage.create_bucket: true to have rlcloud create it"
            )
        return bucket.bucket_resource(clients, spec, name, recorded=recorded)

    def plan_up(self, ctx: ProvisionContext) -> list[PlannedResource]:
        return self._ensure_all(ctx, apply=False).planned

    def apply(self, ctx: ProvisionContext) -> GcpRefs:
        spec, clients, _ = self._setup(ctx, apply=True)
        check_network(clients, spec)
        # Read-only checks first: a bad image fails `up` before anything exists.
        lacking = images_without_gvnic(clients, spec)
        for image in lacking:
            ctx.progress.step(f"image {image} does not support gVNIC; its VMs keep the default NIC")
        self._ensure_all(ctx, apply=True)
        return GcpRefs(ssh_public_key=ctx.ssh_public_key, images_without_gvnic=lacking)

    # ------------------------------------------------------------------ down
    def _survey(self, ctx: ProvisionContext, clients: GcpClients, purge_storage: bool) -> Callable[[], list[Resource[Any]]]:
        """Everything of the cluster that exists now, found by name, marker and label whatever
        the state says (an earlier spec may have made what this one does not ask for)."""
        spec = self._spec(ctx)

        def survey() -> list[Resource[Any]]:
            ours = identity.ours_by_name(clients, spec, ctx.state)
            declared = identity.identity_for_down(clients, spec, ctx.state, ours)
            declared += self._buckets_for_down(ctx, clients, ours, purge_storage)
            policy = placement.policy_resource(clients, spec)
            declared += [policy, *firewall.rule_resources(clients, spec, [])]
            needs = [policy.key, *(r.key for r in declared if r.kind == identity.ACCOUNT_KIND)]
            nodes = instances.instance_resources(clients, spec.name, spec.zone, needs)
            # `detail` of a declaration says what `up` makes; on `down` it would only be noise.
            return [*nodes, *(dataclasses.replace(r, detail="") for r in declared)]

        return survey

    def _buckets_for_down(self, ctx: ProvisionContext, clients: GcpClients, ours: list[str], purge_storage: bool) -> list[Resource[Any]]:
        """The bucket(s) rlcloud created (recorded, or labelled if the state was lost), and the
        accounts' grants on the spec's bucket (removed, even from a user's)."""
        spec = self._spec(ctx)
        recorded = {r.id for r in ctx.state.resources if r.kind == bucket.KIND and r.created}
        named = bucket.checkpoint_bucket(spec)
        out: list[Resource[Any]] = []
        for name in sorted(recorded | ({named} if named else set())):
            found = bucket.get_bucket(clients, name)
            if found is None:
                out.append(gone(bucket.KIND, name))
                continue
            if name in recorded or bucket.is_managed(found, spec.name):
                declared = bucket.bucket_resource(clients, spec, name, recorded=True, kept_on_down=None if purge_storage else KEPT_BUCKET)
            else:
                declared = bucket.users_bucket(clients, name)
            accounts = tuple(f"{identity.ACCOUNT_KIND}:{email}" for email in ours)
            out += [bucket.bucket_bindings(clients, name, ours, depends_on=(*accounts, declared.key)), declared]
        return out

    def plan_down(self, ctx: ProvisionContext, purge_storage: bool) -> list[PlannedResource]:
        _, clients, engine = self._setup(ctx, apply=False)
        return engine.plan_down(self._survey(ctx, clients, purge_storage))

    def destroy(self, ctx: ProvisionContext, purge_storage: bool) -> list[str]:
        _, clients, engine = self._setup(ctx, apply=True)
        return [str(left) for left in engine.down(self._survey(ctx, clients, purge_storage), passes=DOWN_PASSES)]

    # ------------------------------------------------------------------ connect
    def head_address(self, ctx: ProvisionContext) -> str | None:
        spec = self._spec(ctx)
        return instances.head_address(self.make_clients(spec.project), spec.name, spec.zone, internal=spec.network.use_internal_ips)
