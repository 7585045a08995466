"""The Azure CloudProvisioner: the verbs backends/cloud.py calls, on the shared reconciler
(provisioner/clouds/reconcile.py: `plan` and `up` run the same reads and decisions through
`Reconciler.ensure`; `down` deletes what the survey finds through `Reconciler.down`).

`up` makes sure of, in this order (each needs the one before):
  (az:// checkpoints) the storage account and container (create_bucket), else the user's, read
  -> resource group -> (your subnet, read for its prefix) -> NSG -> VNet + subnet behind the NSG
  -> proximity placement group (when a group asks for placement) -> managed identity
  -> custom autoscaler role (assignable in the group only) -> its assignment to the identity
  -> (az:// checkpoints) the workers' identity, its Storage Blob Data Contributor role on the
  container, the head's Storage Blob Data Reader on it (the job's driver reads checkpoints
  there) and the head's right to assign that identity (storage.py).
Ray's VMs come later, from `ray up`, through rlcloud's node provider (ray_node_provider.py),
which puts every node behind the NSG and in the placement group, and gives the identity to
the head only: workers run model-generated code; they get the workers' identity (checkpoint
container only) when checkpoints go to az://, and no identity otherwise.
"""

from __future__ import annotations

from provisioner.clouds.azure.arm import ArmJson
from provisioner.clouds.azure.errors import ERRORS
from provisioner.clouds.azure.head import head_address
from provisioner.clouds.azure.layout import AzureLayout
from provisioner.clouds.azure.resources import AzureResources, principal_of, subnet_prefix
from provisioner.clouds.azure.sdk_clients import ArmClients
from provisioner.clouds.azure.storage import StorageResources
from provisioner.clouds.azure.teardown import AzureTeardown
from provisioner.clouds.base import ProvisionContext
from provisioner.clouds.reconcile import Reconciler
from provisioner.errors import CloudError
from provisioner.plan import PlannedResource
from provisioner.refs import AzureRefs
from provisioner.spec.models import AzureClusterSpec

# `down` deletes in one pass, then reads again to report what is left: Ray is stopped before
# it, so nothing new appears meanwhile, and what Azure refused is reported with its command
# rather than tried again.
DOWN_PASSES = 1


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

    def _engine(self, ctx: ProvisionContext, layout: AzureLayout, *, apply: bool) -> Reconciler:
        return Reconciler(ctx=ctx, errors=ERRORS, apply=apply, region=layout.location)

    def _ensure_all(self, ctx: ProvisionContext, *, apply: bool) -> tuple[Reconciler, AzureRefs]:
        layout, clients = self._setup(ctx)
        declared = AzureResources(layout, clients)
        run = self._engine(ctx, layout, apply=apply)

        # Checkpoint storage first: a user's account or container that is missing, or an account
        # name taken elsewhere, fails before anything of the cluster is made.
        account_id = self._storage(run, layout, StorageResources(layout, clients))
        run.ensure(declared.resource_group())
        if layout.owns_vnet:
            prefix = layout.address_space
        else:
            prefix = subnet_prefix(run.ensure(declared.user_subnet()) or {})
        nsg = run.ensure(declared.nsg(prefix, ctx.ssh_cidrs))
        if layout.owns_vnet:
            run.ensure(declared.vnet())
        ppg = run.ensure(declared.ppg()) if layout.ppg else None
        identity = run.ensure(declared.identity() if layout.identity else declared.user_identity())
        run.ensure(declared.role_definition())
        run.ensure(declared.role_assignment(principal_of(identity)))
        worker = self._worker_identity(run, layout, declared, account_id, principal_of(identity))

        identity_props = (identity or {}).get("properties") or {}
        refs = AzureRefs(
            resource_group=layout.resource_group,
            subnet_id=layout.subnet_id,
            nsg_id=(nsg or {}).get("id") or layout.nsg_id,
            identity_id=(identity or {}).get("id") or layout.identity_id,
            identity_principal_id=identity_props.get("principalId"),
            identity_client_id=identity_props.get("clientId"),
            ppg_id=((ppg or {}).get("id") or layout.ppg_id) if layout.ppg else None,
            worker_identity_id=(worker or {}).get("id") or layout.worker_identity_id,
            worker_identity_client_id=((worker or {}).get("properties") or {}).get("clientId"),
        )
        return run, refs

    @staticmethod
    def _storage(run: Reconciler, layout: AzureLayout, store: StorageResources) -> str | None:
        """az:// checkpoints: the account and its container, made when create_bucket says so,
        else the user's, read; returns the account's id (None without az:// checkpoints)."""
        if layout.storage_account is None:
            return None
        if layout.creates_storage:
            if layout.owns_data_group:
                run.ensure(store.data_group())
            account = run.ensure(store.account())
            account_id = str((account or {}).get("id") or layout.storage_account_id(str(layout.data_resource_group)))
            run.ensure(store.blob_service(account_id))
        else:
            account_id = str((run.ensure(store.user_account()) or {}).get("id"))
        run.ensure(store.container(account_id))
        return account_id

    @staticmethod
    def _worker_identity(
        run: Reconciler, layout: AzureLayout, declared: AzureResources, account_id: str | None, head_principal: str | None
    ) -> ArmJson | None:
        """The workers' identity, its role on the checkpoint container, and the head's right
        to give that identity to the VMs it launches (Azure requires `assign` for that)."""
        if layout.worker_identity is None or account_id is None:
            return None
        worker = run.ensure(declared.worker_identity())
        scope = layout.container_scope(account_id, str(layout.container))
        run.ensure(
            declared.role_assignment(
                principal_of(worker),
                scope=scope,
                guid=layout.storage_assignment_guid(scope),
                role_id=layout.storage_role_id,
                label=f"Storage-Blob-Data-Contributor -> {layout.worker_identity}",
                detail=f"scope: container {layout.storage_account}/{layout.container}",
                description="rlcloud: the cluster's workers write checkpoints",
            )
        )
        # The job's driver runs on the head, as the head's identity, and looks for the newest
        # checkpoint before it starts (runtime/driver.py preflight): read, never write.
        run.ensure(
            declared.role_assignment(
                head_principal,
                scope=scope,
                guid=layout.head_storage_guid(scope),
                role_id=layout.storage_reader_role_id,
                label=f"Storage-Blob-Data-Reader -> {layout.identity or 'head identity'}",
                detail=f"scope: container {layout.storage_account}/{layout.container} (the job's driver finds the newest checkpoint)",
                description="rlcloud: the job's driver on the head reads checkpoints",
            )
        )
        run.ensure(
            declared.role_assignment(
                head_principal,
                scope=str(layout.worker_identity_id),
                guid=layout.worker_assign_guid,
                role_id=layout.identity_operator_role_id,
                label=f"Managed-Identity-Operator -> {layout.identity or 'head identity'}",
                detail=f"scope: identity {layout.worker_identity} (the head launches workers with it)",
                description="rlcloud: the head gives the workers their identity",
            )
        )
        return worker

    # ------------------------------------------------------------------ verbs
    def plan_up(self, ctx: ProvisionContext) -> list[PlannedResource]:
        return self._ensure_all(ctx, apply=False)[0].planned

    def apply(self, ctx: ProvisionContext) -> AzureRefs:
        spec = ctx.spec
        assert isinstance(spec, AzureClusterSpec)
        if spec.network.public_ssh:
            ctx.progress.step("warning: SSH (port 22) will be open to the whole internet (allow_public_ssh)")
        return self._ensure_all(ctx, apply=True)[1]

    def plan_down(self, ctx: ProvisionContext, purge_storage: bool) -> list[PlannedResource]:
        layout, clients = self._setup(ctx)
        return AzureTeardown(layout, clients, ctx.state, purge_storage).plan(self._engine(ctx, layout, apply=False))

    def destroy(self, ctx: ProvisionContext, purge_storage: bool) -> list[str]:
        layout, clients = self._setup(ctx)
        ctx.progress.step(f"deleting the Azure resources of {layout.cluster} in {layout.resource_group}")
        return AzureTeardown(layout, clients, ctx.state, purge_storage).destroy(self._engine(ctx, layout, apply=True), DOWN_PASSES)

    def head_address(self, ctx: ProvisionContext) -> str | None:
        layout, clients = self._setup(ctx)
        with ERRORS.calls(f"find the head of cluster {layout.cluster}"):
            return head_address(layout, clients)
