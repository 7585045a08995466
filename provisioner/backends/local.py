"""The local backend: a Ray cluster on this machine whose worker nodes the real autoscaler
starts and stops as simulated nodes (processes), driven by the compiled fake_multinode config.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import yaml

from provisioner import naming
from provisioner.auth import bearer_headers, ensure_token, read_token
from provisioner.backends.base import DownResult, UpResult
from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.cluster.readiness import wait_until_ready
from provisioner.cluster.status import ClusterStatus, build_status
from provisioner.compile import CompileContext
from provisioner.drivers import compile_cluster
from provisioner.errors import ClusterError, UsageError
from provisioner.local.head import (
    allocate_runtime,
    cluster_temp_dir,
    head_launch,
    start_head,
)
from provisioner.local.processes import find_cluster_processes, stop_cluster_processes
from provisioner.plan import Plan
from provisioner.progress import Progress
from provisioner.refs import LocalRefs
from provisioner.spec.models import ClusterSpecBase
from provisioner.spec.resolve import HEAD_RAY_NAME, resolve_nodes
from provisioner.state import ClusterState, LocalRuntime, load_state, save_state

START_LOG_FILE = "ray-start.log"
# `ray start --head` takes ~10 s here; a loaded 2-core machine can take several times that.
HEAD_START_TIMEOUT_S = 180.0


def _config_for(spec: ClusterSpecBase, runtime: LocalRuntime) -> dict[str, Any]:
    ctx = CompileContext.for_cluster(spec.name)
    return compile_cluster(spec, ctx, LocalRefs(gcs_port=runtime.gcs_port, dashboard_port=runtime.dashboard_port))


def _endpoint(spec: ClusterSpecBase, runtime: LocalRuntime) -> DashboardEndpoint:
    token = read_token(CompileContext.for_cluster(spec.name).token_file)
    return DashboardEndpoint(url=f"http://127.0.0.1:{runtime.dashboard_port}", headers=bearer_headers(token))


def _running(state: ClusterState | None) -> bool:
    if state is None or state.local is None:
        return False
    return bool(find_cluster_processes(state.local.temp_dir, state.local.gcs_port))


class LocalBackend:
    """up / down / status / endpoint for `cloud: local`."""

    def checkpoint_uri(self, spec: ClusterSpecBase) -> str:
        return spec.storage.checkpoint_uri or f"file://{naming.state_dir(spec.name) / 'checkpoints'}"

    # ------------------------------------------------------------------ up
    def plan(self, spec: ClusterSpecBase, progress: Progress | None = None) -> Plan:
        """Nothing in any cloud: `up` starts Ray processes on this machine."""
        return Plan(cluster=spec.name, cloud="local", resources=[], cost=None)

    def up(
        self,
        spec: ClusterSpecBase,
        *,
        progress: Progress,
        timeout_s: float = 300.0,
        assume_yes: bool = True,
        provision_only: bool = False,
        restart_ray: bool = False,
    ) -> UpResult:
        if provision_only:
            raise UsageError("--provision-only is for cloud clusters; a local cluster has nothing to provision")
        state_dir = naming.state_dir(spec.name)
        state = load_state(spec.name)
        if _running(state) and restart_ray:
            assert state is not None and state.local is not None
            progress.step(f"restarting cluster {spec.name} as asked (its running jobs stop)")
            stop_cluster_processes(state.local.temp_dir, state.local.gcs_port)
        elif _running(state):
            assert state is not None and state.local is not None
            return self._update_running(spec, state, state.local, progress)
        if state is not None and state.local is not None:
            progress.step("found leftovers of an earlier run of this cluster; cleaning them up")
            stop_cluster_processes(state.local.temp_dir, state.local.gcs_port)

        nodes = resolve_nodes(spec)
        runtime = allocate_runtime(state_dir)
        ctx = CompileContext.for_cluster(spec.name)
        ensure_token(ctx.token_file)
        config_path = naming.ray_config_path(spec.name)
        config_path.write_text(yaml.safe_dump(_config_for(spec, runtime), sort_keys=False))
        state = state or ClusterState(name=spec.name, cloud="local")
        state.status, state.local, state.checkpoint_uri = "starting", runtime, self.checkpoint_uri(spec)
        save_state(state)

        progress.step(f"starting Ray head of {spec.name} (GCS port {runtime.gcs_port}, autoscaler: fake_multinode)")
        launch = head_launch(nodes[0], runtime, config_path, ctx.token_file)
        log_path = state_dir / START_LOG_FILE
        code = start_head(launch, log_path, timeout_s=HEAD_START_TIMEOUT_S)
        if code != 0:
            # Whatever it got as far as starting goes too, so the next `up` starts clean.
            stop_cluster_processes(runtime.temp_dir, runtime.gcs_port)
            state.status, state.local = "down", None
            save_state(state)
            tail = "\n".join(log_path.read_text().splitlines()[-15:])
            what = f"failed (exit {code})" if code is not None else f"did not finish in {HEAD_START_TIMEOUT_S:.0f} s"
            raise ClusterError(f"`ray start` {what}:\n{tail}", hint=f"full log: {log_path}; Ray's own logs: {runtime.temp_dir}/session_latest/logs")

        endpoint = _endpoint(spec, runtime)
        status = wait_until_ready(endpoint, spec.name, "local", nodes, progress, timeout_s)
        runtime.head_pids = [p.pid for p in find_cluster_processes(runtime.temp_dir, runtime.gcs_port)]
        state.status = "up"
        save_state(state)
        return UpResult(
            changed=True,
            message=f"cluster {spec.name} is up",
            dashboard=endpoint.url,
            status=status,
            ray_config_path=str(config_path),
        )

    def _update_running(self, spec: ClusterSpecBase, state: ClusterState, runtime: LocalRuntime, progress: Progress) -> UpResult:
        """`up` on a running cluster: nothing to do, or a new autoscaling config to hand over."""
        config_path = naming.ray_config_path(spec.name)
        endpoint = _endpoint(spec, runtime)
        current = yaml.safe_load(config_path.read_text()) if config_path.exists() else None
        wanted = _config_for(spec, runtime)
        if current == wanted:
            return UpResult(
                changed=False, message=f"cluster {spec.name} is already up; nothing changed", dashboard=endpoint.url, ray_config_path=str(config_path)
            )
        if current is not None and current["available_node_types"].get(HEAD_RAY_NAME) != wanted["available_node_types"][HEAD_RAY_NAME]:
            raise ClusterError(
                f"cluster {spec.name} is up with a different head node; the head cannot change while it runs",
                hint="`rlcloud down SPEC` then `rlcloud up SPEC`",
            )
        # The autoscaler re-reads its config file on every update: worker groups and
        # autoscaler settings change without a restart.
        config_path.write_text(yaml.safe_dump(wanted, sort_keys=False))
        progress.step("updated the autoscaling config of the running cluster")
        return UpResult(
            changed=True, message=f"cluster {spec.name} is up; autoscaling config updated", dashboard=endpoint.url, ray_config_path=str(config_path)
        )

    # ------------------------------------------------------------------ down
    def down(self, spec: ClusterSpecBase, *, progress: Progress, assume_yes: bool = True, purge_storage: bool = False) -> DownResult:
        state_dir = naming.state_dir(spec.name)
        state = load_state(spec.name)
        runtime = state.local if state else None
        temp_dir = runtime.temp_dir if runtime else cluster_temp_dir(state_dir)
        gcs_port = runtime.gcs_port if runtime else 0
        if not find_cluster_processes(temp_dir, gcs_port):
            if state is not None and state.status != "down":
                state.status, state.local = "down", None
                save_state(state)
            return DownResult(changed=False, message=f"cluster {spec.name} is not up; nothing to do")
        progress.step(f"stopping cluster {spec.name} (autoscaler first, then every node)")
        survivors = stop_cluster_processes(temp_dir, gcs_port)
        left = [f"pid {p.pid} ({' '.join(p.cmdline())[:80]}): kill -9 {p.pid}" for p in survivors]
        if not survivors:
            shutil.rmtree(temp_dir, ignore_errors=True)  # Ray's session logs of this cluster
        if state is not None:
            state.status, state.local = "down", None
            save_state(state)
        kept = self.checkpoint_uri(spec)
        return DownResult(
            changed=True,
            message=f"cluster {spec.name} is down; checkpoints kept at {kept}" if not left else f"cluster {spec.name}: some processes survived",
            left_behind=left,
        )

    # ------------------------------------------------------------------ status / endpoint
    def status(self, spec: ClusterSpecBase) -> ClusterStatus:
        state = load_state(spec.name)
        nodes = resolve_nodes(spec)
        if not _running(state):
            return ClusterStatus(name=spec.name, cloud="local", state="down")
        assert state is not None and state.local is not None
        endpoint = _endpoint(spec, state.local)
        if not endpoint.is_up():
            return ClusterStatus(name=spec.name, cloud="local", state="unreachable", dashboard=endpoint.url)
        return build_status(spec.name, "local", endpoint.url, nodes, endpoint.cluster_status(), endpoint.jobs())

    @contextmanager
    def endpoint(self, spec: ClusterSpecBase) -> Iterator[DashboardEndpoint]:
        state = load_state(spec.name)
        if not _running(state):
            raise ClusterError(f"cluster {spec.name} is not up", hint=f"rlcloud up {_spec_hint(state)}")
        assert state is not None and state.local is not None
        yield _endpoint(spec, state.local)


def _spec_hint(state: ClusterState | None) -> str:
    return state.spec_path if state and state.spec_path else "SPEC"
