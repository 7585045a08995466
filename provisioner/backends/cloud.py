"""The flow shared by AWS, GCP and Azure; the cloud-specific work is a CloudProvisioner.

up:   plan -> show it (resources, $/h) -> confirm -> apply (record each resource as it is
      made) -> compile with the refs -> Ray validates -> write the Ray YAML -> `ray up`
      (no config cache) -> wait through an SSH tunnel until min_nodes are up.
      `provision_only` stops after writing the YAML, for users who run `ray up` themselves.
down: plan -> confirm -> `ray down` (teardown_cluster) -> delete what up created, in
      dependency order -> sweep anything still tagged -> report what is left and how to
      delete it.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import yaml

from provisioner import naming
from provisioner.auth import bearer_headers, ensure_token, read_token
from provisioner.backends.base import DownResult, UpResult
from provisioner.clouds.base import CloudProvisioner, ProvisionContext
from provisioner.clouds.ssh_cidrs import resolve_ssh_cidrs
from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.cluster.readiness import wait_until_ready
from provisioner.cluster.status import ClusterStatus, build_status
from provisioner.cluster.tunnel import SshTunnel, TunnelSpec, pick_local_port, ssh_binary
from provisioner.compile import CompileContext, compile_cluster, find_pending
from provisioner.confirm import confirm
from provisioner.errors import ClusterError, RlcloudError
from provisioner.plan import Plan, PlannedResource, estimate_cost
from provisioner.progress import Progress
from provisioner.ray_validate import validate_ray_config
from provisioner.spec.models import ClusterSpecBase
from provisioner.spec.resolve import resolve_nodes
from provisioner.sshkeys import ensure_keypair
from provisioner.state import ClusterState, load_state

class CloudBackend:
    def __init__(self, provisioner: CloudProvisioner) -> None:
        self.provisioner = provisioner

    # ------------------------------------------------------------------ helpers
    def _context(
        self, spec: ClusterSpecBase, progress: Progress, *, for_apply: bool, ssh_cidrs: list[str] | None = None
    ) -> ProvisionContext:
        """`for_apply` creates the SSH key pair if missing. `ssh_cidrs` given means already
        resolved (or not needed: down and status pass []); None looks up this machine's
        public IP for `ssh_cidrs: auto`."""
        state = load_state(spec.name) or ClusterState(name=spec.name, cloud=spec.cloud)
        ctx = CompileContext.for_cluster(spec.name)
        public_key = ensure_keypair(ctx.ssh_private_key, f"rlcloud-{spec.name}") if for_apply else (
            ctx.ssh_public_key.read_text().strip() if ctx.ssh_public_key.exists() else None
        )
        if ssh_cidrs is None:
            ssh_cidrs = resolve_ssh_cidrs(spec.network.ssh_cidrs)  # type: ignore[attr-defined]
        return ProvisionContext(spec=spec, state=state, progress=progress, ssh_cidrs=ssh_cidrs, ssh_public_key=public_key)

    def _plan(self, ctx: ProvisionContext) -> Plan:
        spec = ctx.spec
        return Plan(cluster=spec.name, cloud=spec.cloud, resources=self.provisioner.plan_up(ctx), cost=estimate_cost(spec))

    def plan(self, spec: ClusterSpecBase, progress: Progress | None = None) -> Plan:
        return self._plan(self._context(spec, progress or Progress.silent(), for_apply=False))

    def checkpoint_uri(self, spec: ClusterSpecBase) -> str | None:
        return spec.storage.checkpoint_uri

    # ------------------------------------------------------------------ up
    def up(
        self,
        spec: ClusterSpecBase,
        *,
        progress: Progress,
        timeout_s: float = 1200.0,
        assume_yes: bool = False,
        provision_only: bool = False,
    ) -> UpResult:
        from provisioner.spec.checks import spec_warnings

        for warning in spec_warnings(spec):  # e.g. SSH open to 0.0.0.0/0: said on every `up`
            progress.write(f"warning: {warning}")
        # No key pair yet: answering "no" must leave nothing behind, not even locally.
        planned = self._context(spec, progress, for_apply=False)
        plan = self._plan(planned)
        progress.write(plan.text())
        if plan.mutating():
            confirm(f"Create the resources above for cluster {spec.name}?", assume_yes=assume_yes)
        ctx = self._context(spec, progress, for_apply=True, ssh_cidrs=planned.ssh_cidrs)
        ensure_token(CompileContext.for_cluster(spec.name).token_file)
        ctx.state.status = "provisioning" if ctx.state.status in ("down", "provisioning") else ctx.state.status
        ctx.state.checkpoint_uri = spec.storage.checkpoint_uri
        ctx.save()
        refs = self.provisioner.apply(ctx)
        ctx.state.refs = refs.model_dump(mode="json")
        if ctx.state.status == "provisioning":
            ctx.state.status = "provisioned"
        ctx.save()

        config = compile_cluster(spec, CompileContext.for_cluster(spec.name), refs)
        pending = find_pending(config)
        if pending:
            raise RlcloudError(f"provisioning left values unresolved: {pending}", hint="this is an rlcloud bug; please report it")
        validate_ray_config(config)
        path = naming.ray_config_path(spec.name)
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        changed = plan.mutating()
        if provision_only:
            return UpResult(
                changed=changed,
                message=f"provisioned cluster {spec.name}; the Ray cluster YAML is at {path} (run `ray up {path}` to start Ray)",
                ray_config_path=str(path),
            )

        progress.step("starting Ray with `ray up` (this takes a few minutes on a fresh cluster)")
        from ray.autoscaler.sdk import create_or_update_cluster

        try:
            create_or_update_cluster(str(path), no_restart=False, restart_only=False, no_config_cache=True)
        except (Exception, SystemExit) as exc:  # Ray's CLI helpers exit on some errors
            raise ClusterError(
                f"`ray up` failed: {str(exc).strip()[-600:] or type(exc).__name__}",
                hint="fix the cause and re-run `rlcloud up`, or `rlcloud down` to remove what was created",
            ) from None
        ctx.state.status = "up"
        ctx.save()
        with self.endpoint(spec) as endpoint:
            status = wait_until_ready(endpoint, spec.name, spec.cloud, resolve_nodes(spec), progress, timeout_s)
        return UpResult(changed=True, message=f"cluster {spec.name} is up", dashboard=None, status=status, ray_config_path=str(path))

    # ------------------------------------------------------------------ down
    def down(self, spec: ClusterSpecBase, *, progress: Progress, assume_yes: bool = False, purge_storage: bool = False) -> DownResult:
        ctx = self._context(spec, progress, for_apply=False, ssh_cidrs=[])
        resources: list[PlannedResource] = self.provisioner.plan_down(ctx, purge_storage)
        to_delete = [r for r in resources if r.action == "delete"]
        ray_config = naming.ray_config_path(spec.name)
        # After `up --provision-only` the user may have run `ray up` by hand: a running head
        # means Ray needs stopping even though our state says only "provisioned".
        ray_running = ray_config.exists() and (
            ctx.state.status in ("up", "starting") or self.provisioner.head_address(ctx) is not None
        )
        if not to_delete and not ray_running:
            if ctx.state.status != "down" and load_state(spec.name) is not None:
                ctx.state.status = "down"
                ctx.save()
            return DownResult(changed=False, message=f"cluster {spec.name} is not up; nothing to do")
        progress.write(Plan(cluster=spec.name, cloud=spec.cloud, resources=resources).text())
        confirm(f"Delete the resources above of cluster {spec.name}?", assume_yes=assume_yes)
        if purge_storage:
            confirm(f"Also delete the checkpoint data of {spec.name}? This cannot be undone.", assume_yes=assume_yes)
        if ray_running:
            progress.step("stopping Ray (`ray down`)")
            self._ray_down(ray_config, progress)
        left = self.provisioner.destroy(ctx, purge_storage)
        ctx.state.status = "down"
        ctx.save()
        if left:
            return DownResult(changed=True, message=f"cluster {spec.name}: some resources could not be deleted", left_behind=left)
        return DownResult(changed=True, message=f"cluster {spec.name} is down; nothing of it is left running or billed" + ("" if purge_storage else " (checkpoints kept)"))

    @staticmethod
    def _ray_down(config_path: Path, progress: Progress) -> None:
        from ray.autoscaler.sdk import teardown_cluster

        try:
            teardown_cluster(str(config_path))
        except (Exception, SystemExit) as exc:
            # The provisioner's sweep terminates whatever Ray could not.
            progress.step(f"`ray down` did not finish ({str(exc).strip()[:200] or type(exc).__name__}); sweeping by tag instead")

    # ------------------------------------------------------------------ status / endpoint
    def status(self, spec: ClusterSpecBase) -> ClusterStatus:
        state = load_state(spec.name)
        if state is None or state.status != "up":
            return ClusterStatus(name=spec.name, cloud=spec.cloud, state=state.status if state else "down")
        with self.endpoint(spec) as endpoint:
            return build_status(spec.name, spec.cloud, endpoint.url, resolve_nodes(spec), endpoint.cluster_status(), endpoint.jobs())

    @contextmanager
    def endpoint(self, spec: ClusterSpecBase) -> Iterator[DashboardEndpoint]:
        ctx = self._context(spec, Progress.silent(), for_apply=False, ssh_cidrs=[])
        host = self.provisioner.head_address(ctx)
        if host is None:
            raise ClusterError(f"cluster {spec.name} has no running head", hint=f"rlcloud up {ctx.state.spec_path or 'SPEC'}")
        compile_ctx = CompileContext.for_cluster(spec.name)
        tunnel = SshTunnel(
            TunnelSpec(
                host=host,
                user=spec.ssh_user,  # type: ignore[attr-defined]
                private_key=compile_ctx.ssh_private_key,
                known_hosts=compile_ctx.state_dir / "known_hosts",
                local_port=pick_local_port(),
                ssh_binary=ssh_binary(),
            )
        )
        token = read_token(compile_ctx.token_file)
        with tunnel:
            yield DashboardEndpoint(tunnel.url, bearer_headers(token))
