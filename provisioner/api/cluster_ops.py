"""Cluster lifecycle: up, down, status, on any backend."""

from __future__ import annotations

from pathlib import Path

from provisioner.backends.base import DownResult, UpResult
from provisioner.cluster.status import ClusterStatus
from provisioner.drivers import driver_for
from provisioner.plan import Plan
from provisioner.progress import Progress
from provisioner.spec import load_spec
from provisioner.state import load_state, save_state


def _remember_spec_path(name: str, spec_path: str | Path) -> None:
    state = load_state(name)
    if state is not None and state.spec_path != str(Path(spec_path).resolve()):
        state.spec_path = str(Path(spec_path).resolve())
        save_state(state)


def up(
    spec_path: str | Path,
    *,
    progress: Progress | None = None,
    timeout_s: float = 1200.0,
    assume_yes: bool = False,
    provision_only: bool = False,
    restart_ray: bool = False,
) -> UpResult:
    """Bring the cluster up (idempotent: a running cluster is left as it is, and its Ray is
    restarted only with `restart_ray`)."""
    spec = load_spec(spec_path)
    result = (
        driver_for(spec.cloud)
        .make_backend()
        .up(
            spec,
            progress=progress or Progress.silent(),
            timeout_s=timeout_s,
            assume_yes=assume_yes,
            provision_only=provision_only,
            restart_ray=restart_ray,
        )
    )
    _remember_spec_path(spec.name, spec_path)
    return result


def plan(spec_path: str | Path, *, progress: Progress | None = None) -> Plan:
    """What `up` would create / keep / update and the estimated $/hour; changes nothing."""
    spec = load_spec(spec_path)
    return driver_for(spec.cloud).make_backend().plan(spec, progress)


def down(spec_path: str | Path, *, progress: Progress | None = None, assume_yes: bool = False, purge_storage: bool = False) -> DownResult:
    """Take the cluster down; checkpoints stay unless `purge_storage`."""
    spec = load_spec(spec_path)
    return (
        driver_for(spec.cloud).make_backend().down(spec, progress=progress or Progress.silent(), assume_yes=assume_yes, purge_storage=purge_storage)
    )


def status(spec_path: str | Path) -> ClusterStatus:
    spec = load_spec(spec_path)
    return driver_for(spec.cloud).make_backend().status(spec)
