"""The Azure CloudProvisioner: the verbs backends/cloud.py calls.

`up` makes sure of, in this order (each needs the one before):
  resource group -> (your subnet, read for its prefix) -> NSG -> VNet + subnet behind the NSG
  -> proximity placement group (when a group asks for placement) -> managed identity
  -> custom autoscaler role (assignable in the group only) -> its assignment to the identity
  -> (a cluster launched before workers went without one) the identity off its worker VMs.
Ray's VMs come later, from `ray up`, through rlcloud's node provider (ray_node_provider.py),
which puts every node behind the NSG and in the placement group, and gives the identity to
the head only: workers run model-generated code and need no Azure access (they checkpoint
to S3).
"""

from __future__ import annotations

from provisioner.clouds.azure import worker_identity
from provisioner.clouds.azure.converge import Converger
from provisioner.clouds.azure.errors import azure_errors
from provisioner.clouds.azure.head import head_address
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.resources import AzureResources, subnet_prefix
from provisioner.clouds.azure.sdk_clients import ArmClients
from provisioner.clouds.azure.teardown import AzureTeardown
from provisioner.clouds.base import ProvisionContext
from provisioner.compile.azure import AzureRefs
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.spec.models import AzureClusterSpec


class AzureProvisioner:
    cloud = "azure"

    def _setup(self, ctx: ProvisionContext) -> tuple[AzureLayout, ArmClients]:
        spec = ctx.spec
        assert isinstance(spec, AzureClusterSpec)
        try:
            clients = ArmClients(spec.subscription_id)
        except ValueError as exc:  # a malformed RLCLOUD_AZURE_ENDPOINT
            raise CloudError(str(exc), hint="unset it to use Azure's public cloud") from None
        return AzureLayout.from_spec(spec), clients

    def _converge(self, ctx: ProvisionContext, *, apply: bool) -> tuple[Converger, AzureRefs]:
        layout, clients = self._setup(ctx)
        steps = AzureResources(layout, clients)
        run = Converger(ctx=ctx, apply=apply, region=layout.location)

        group = run.ensure(steps.resource_group())
        if layout.owns_vnet:
            prefix = layout.address_space
        else:
            prefix = subnet_prefix(run.ensure(steps.user_subnet()) or {})
        nsg = run.ensure(steps.nsg(prefix, ctx.ssh_cidrs))
        if layout.owns_vnet:
            run.ensure(steps.vnet())
        ppg = run.ensure(steps.ppg()) if layout.ppg else None
        identity = run.ensure(steps.identity() if layout.identity else steps.user_identity())
        identity_props = (identity or {}).get("properties") or {}
        run.ensure(steps.role_definition())
        run.ensure(steps.role_assignment(identity_props.get("principalId")))
        if group is not None:
            with azure_errors(f"list the VMs of {layout.resource_group}"):
                carrying = worker_identity.workers_carrying(layout, clients)
            for name in carrying:
                run.ensure(worker_identity.worker_step(layout, clients, name))

        refs = AzureRefs(
            resource_group=layout.resource_group,
            subnet_id=layout.subnet_id,
            nsg_id=(nsg or {}).get("id") or layout.nsg_id,
            identity_id=(identity or {}).get("id") or layout.identity_id,
            identity_principal_id=identity_props.get("principalId"),
            identity_client_id=identity_props.get("clientId"),
            ppg_id=((ppg or {}).get("id") or layout.ppg_id) if layout.ppg else None,
        )
        return run, refs

    # ------------------------------------------------------------------ verbs
    def plan_up(self, ctx: ProvisionContext) -> list[PlannedResource]:
        return self._converge(ctx, apply=False)[0].planned

    def apply(self, ctx: ProvisionContext) -> AzureRefs:
        if ctx.spec.network.public_ssh:  # type: ignore[attr-defined]
            ctx.progress.step("warning: SSH (port 22) will be open to the whole internet (allow_public_ssh)")
        return self._converge(ctx, apply=True)[1]

    def plan_down(self, ctx: ProvisionContext, purge_storage: bool) -> list[PlannedResource]:
        layout, clients = self._setup(ctx)
        return AzureTeardown(layout, clients).plan()

    def destroy(self, ctx: ProvisionContext, purge_storage: bool) -> list[str]:
        layout, clients = self._setup(ctx)
        ctx.progress.step(f"deleting the Azure resources of {layout.cluster} in {layout.resource_group}")
        with azure_errors(f"delete the resources of cluster {layout.cluster}"):
            left = AzureTeardown(layout, clients).destroy()
        ctx.state.resources = [r for r in ctx.state.resources if any(r.id in line for line in left)]
        ctx.save()
        return left

    def head_address(self, ctx: ProvisionContext) -> str | None:
        layout, clients = self._setup(ctx)
        with azure_errors(f"find the head of cluster {layout.cluster}"):
            return head_address(layout, clients)
