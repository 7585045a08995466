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

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from provisioner import naming
from provisioner.auth import bearer_headers, ensure_token, read_token
from provisioner.backends.base import DownResult, UpResult
from provisioner.clouds.base import CloudProvisioner, ProvisionContext
from provisioner.clouds.ssh_cidrs import resolve_ssh_cidrs
from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.cluster.ray_launcher import ray_down, ray_up
from provisioner.cluster.readiness import wait_until_ready
from provisioner.cluster.status import ClusterStatus, build_status
from provisioner.cluster.tunnel import SshTunnel, TunnelSpec, pick_local_port, ssh_binary
from provisioner.compile import CompileContext, find_pending
from provisioner.confirm import confirm
from provisioner.drivers import compile_cluster
from provisioner.errors import ClusterError, RlcloudError
from provisioner.plan import Plan, PlannedResource, estimate_cost
from provisioner.progress import Progress
from provisioner.ray_validate import validate_ray_config
from provisioner.spec.models import ClusterSpecBase
from provisioner.spec.resolve import resolve_nodes
from provisioner.sshkeys import ensure_keypair
from provisioner.state import ClusterState, load_state

# What `up` did about Ray.
STARTED, UPDATED, UNCHANGED = "started", "updated", "unchanged"
AUTOSCALER_LOG = "head-autoscaler.log"


def _head_settings(config: dict[str, Any]) -> Any:
    """What Ray hashes to decide the head is out of date (and replaces it)."""
    head_type = config.get("head_node_type")
    return (config.get("available_node_types", {}).get(head_type, {}).get("node_config"), config.get("auth"))


class CloudBackend:
    def __init__(self, provisioner: CloudProvisioner) -> None:
        self.provisioner = provisioner

    # ------------------------------------------------------------------ helpers
    def _context(self, spec: ClusterSpecBase, progress: Progress, *, for_apply: bool, ssh_cidrs: list[str] | None = None) -> ProvisionContext:
        """`for_apply` creates the SSH key pair if missing. `ssh_cidrs` given means already
        resolved (or not needed: down and status pass []); None looks up this machine's
        public IP for `ssh_cidrs: auto`."""
        state = load_state(spec.name) or ClusterState(name=spec.name, cloud=spec.cloud)
        ctx = CompileContext.for_cluster(spec.name)
        public_key = (
            ensure_keypair(ctx.ssh_private_key, f"rlcloud-{spec.name}")
            if for_apply
            else (ctx.ssh_public_key.read_text().strip() if ctx.ssh_public_key.exists() else None)
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
        restart_ray: bool = False,
    ) -> UpResult:
        from provisioner.spec.checks import spec_warnings

        deadline = time.monotonic() + timeout_s

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

        if ctx.state.status != "up":
            ctx.state.status = "starting"  # a failed `ray up` leaves a head that `down` must stop
            ctx.save()
        started = self._start_ray(spec, config, path, progress, deadline - time.monotonic(), restart_ray)
        ctx.state.status = "up"
        ctx.save()
        status = self._wait_ready(spec, progress, deadline - time.monotonic())
        if started == UNCHANGED and not changed:
            return UpResult(
                changed=False,
                message=f"cluster {spec.name} is up as specified; nothing changed (Ray was not restarted)",
                status=status,
                ray_config_path=str(path),
            )
        verb = {UPDATED: "is up; the running Ray took the new configuration without a restart", UNCHANGED: "is up"}.get(started, "is up")
        return UpResult(changed=True, message=f"cluster {spec.name} {verb}", status=status, ray_config_path=str(path))

    def _start_ray(self, spec: ClusterSpecBase, config: dict[str, Any], path: Path, progress: Progress, budget_s: float, restart: bool) -> str:
        # (`config` is what `path` holds; the files are compared, as Ray compares them.)
        """`ray up` only when needed: a running Ray is never restarted unless asked (its
        head start commands begin with `ray stop`, which kills every running job)."""
        applied_path = naming.applied_ray_config_path(spec.name)
        if not restart and self._ray_answers(spec):
            applied = yaml.safe_load(applied_path.read_text()) if applied_path.exists() else None
            if applied is not None and applied_path.read_text() == path.read_text():
                progress.step("Ray is running with this configuration; leaving it alone")
                return UNCHANGED
            if applied is not None and _head_settings(applied) != _head_settings(config):
                raise ClusterError(
                    f"the head node's settings of cluster {spec.name} changed; applying them replaces the head, which stops every running job",
                    hint="`rlcloud up SPEC --restart-ray` does that; or undo the change to the head",
                )
            progress.step("updating the running cluster with `ray up --no-restart` (running jobs keep running)")
            ray_up(path, restart=False, state_dir=naming.state_dir(spec.name), progress=progress, timeout_s=budget_s)
            shutil.copyfile(path, applied_path)
            return UPDATED
        progress.step("starting Ray with `ray up` (a few minutes on a fresh cluster)" + (" (restart asked for)" if restart else ""))
        ray_up(path, restart=True, state_dir=naming.state_dir(spec.name), progress=progress, timeout_s=budget_s)
        shutil.copyfile(path, applied_path)
        return STARTED

    def _ray_answers(self, spec: ClusterSpecBase) -> bool:
        try:
            with self.endpoint(spec) as endpoint:
                return endpoint.is_up()
        except ClusterError:
            return False

    def _wait_ready(self, spec: ClusterSpecBase, progress: Progress, budget_s: float) -> ClusterStatus:
        with self.endpoint(spec) as endpoint:
            try:
                return wait_until_ready(endpoint, spec.name, spec.cloud, resolve_nodes(spec), progress, max(1.0, budget_s))
            except ClusterError as exc:
                log = self._save_autoscaler_log(spec)
                raise ClusterError(
                    f"{exc.message}\n  step: waiting for each group's min_nodes to join (after `ray up`)",
                    hint=f"the head's autoscaler log is copied to {log}"
                    if log
                    else "the head's autoscaler log could not be fetched; try `rlcloud status`",
                ) from None

    def _save_autoscaler_log(self, spec: ClusterSpecBase) -> Path | None:
        """Copy the end of the head's autoscaler log next to the cluster's state, so the reason
        a node did not join is one local file away."""
        ctx = self._context(spec, Progress.silent(), for_apply=False, ssh_cidrs=[])
        host = self.provisioner.head_address(ctx)
        if host is None:
            return None
        command = "tail -n 400 /tmp/ray/session_latest/logs/monitor.log /tmp/ray/session_latest/logs/monitor.out 2>&1"
        try:
            done = subprocess.run(self._tunnel_spec(spec, host).remote(command), capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0 and not done.stdout:
            return None
        target = naming.state_dir(spec.name) / AUTOSCALER_LOG
        target.write_text(done.stdout)
        return target

    # ------------------------------------------------------------------ down
    def down(self, spec: ClusterSpecBase, *, progress: Progress, assume_yes: bool = False, purge_storage: bool = False) -> DownResult:
        ctx = self._context(spec, progress, for_apply=False, ssh_cidrs=[])
        resources: list[PlannedResource] = self.provisioner.plan_down(ctx, purge_storage)
        to_delete = [r for r in resources if r.action == "delete"]
        ray_config = naming.ray_config_path(spec.name)
        # After `up --provision-only` the user may have run `ray up` by hand: a running head
        # means Ray needs stopping even though our state says only "provisioned".
        ray_running = ray_config.exists() and (ctx.state.status in ("up", "starting") or self.provisioner.head_address(ctx) is not None)
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
            self._ray_down(ray_config, naming.state_dir(spec.name), progress)
        left = self.provisioner.destroy(ctx, purge_storage)
        ctx.state.status = "down"
        ctx.save()
        if left:
            return DownResult(changed=True, message=f"cluster {spec.name}: some resources could not be deleted", left_behind=left)
        return DownResult(
            changed=True,
            message=f"cluster {spec.name} is down; nothing of it is left running or billed" + ("" if purge_storage else " (checkpoints kept)"),
        )

    @staticmethod
    def _ray_down(config_path: Path, state_dir: Path, progress: Progress) -> None:
        finished, run = ray_down(config_path, state_dir=state_dir, progress=progress)
        if not finished:
            # The provisioner's sweep terminates whatever Ray could not.
            progress.step(f"`ray down` did not finish (at step: {run.last_step}; log {run.log}); sweeping by tag instead")

    # ------------------------------------------------------------------ status / endpoint
    def status(self, spec: ClusterSpecBase) -> ClusterStatus:
        state = load_state(spec.name)
        if state is None or state.status != "up":
            return ClusterStatus(name=spec.name, cloud=spec.cloud, state=state.status if state else "down")
        with self.endpoint(spec) as endpoint:
            return build_status(spec.name, spec.cloud, endpoint.url, resolve_nodes(spec), endpoint.cluster_status(), endpoint.jobs())

    @staticmethod
    def _tunnel_spec(spec: ClusterSpecBase, host: str) -> TunnelSpec:
        compile_ctx = CompileContext.for_cluster(spec.name)
        return TunnelSpec(
            host=host,
            user=spec.ssh_user,  # type: ignore[attr-defined]
            private_key=compile_ctx.ssh_private_key,
            known_hosts=compile_ctx.state_dir / "known_hosts",
            local_port=pick_local_port(),
            ssh_binary=ssh_binary(),
        )

    @contextmanager
    def endpoint(self, spec: ClusterSpecBase) -> Iterator[DashboardEndpoint]:
        ctx = self._context(spec, Progress.silent(), for_apply=False, ssh_cidrs=[])
        host = self.provisioner.head_address(ctx)
        if host is None:
            raise ClusterError(f"cluster {spec.name} has no running head", hint=f"rlcloud up {ctx.state.spec_path or 'SPEC'}")
        compile_ctx = CompileContext.for_cluster(spec.name)
        tunnel = SshTunnel(self._tunnel_spec(spec, host))
        token = read_token(compile_ctx.token_file)
        with tunnel:
            yield DashboardEndpoint(tunnel.url, bearer_headers(token))
