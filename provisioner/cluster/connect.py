"""Resolve what a job command talks to: a cluster from a spec, or an existing Ray cluster
rlcloud did not create (`--address`, the seeds' `ray_head_node_address` use case)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioner.auth import bearer_headers, read_token
from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.errors import UsageError
from rlcloud_contract.env import CHECKPOINT_URI_ENV


@dataclass
class Connection:
    endpoint: DashboardEndpoint
    cluster_name: str | None
    checkpoint_uri: str | None
    same_filesystem: bool = False  # the cluster's nodes see this machine's files


def normalise_address(address: str) -> str:
    """Accept http(s)://host:port or host:port; refuse ray:// (that is the Ray Client port)."""
    if address.startswith("ray://"):
        raise UsageError(
            f"{address} is a Ray Client address; the Jobs API needs the dashboard address",
            hint="use http://HOST:8265 (through an SSH tunnel if the port is not open, as it should not be)",
        )
    if address.startswith(("http://", "https://")):
        return address.rstrip("/")
    if ":" in address:
        return f"http://{address}"
    raise UsageError(f"--address {address!r}: expected http://HOST:PORT")


def _external_headers(token_file: Path | None) -> dict[str, str]:
    if token_file is not None:
        return bearer_headers(read_token(token_file))
    token = os.environ.get("RAY_AUTH_TOKEN")
    return bearer_headers(token) if token else {}


@contextmanager
def connect(spec_path: Path | None, address: str | None = None, token_file: Path | None = None) -> Iterator[Connection]:
    if address is not None:
        yield Connection(
            endpoint=DashboardEndpoint(normalise_address(address), _external_headers(token_file)),
            cluster_name=None,
            checkpoint_uri=os.environ.get(CHECKPOINT_URI_ENV),
        )
        return
    if spec_path is None:
        raise UsageError("give a cluster SPEC, or --address for a cluster rlcloud did not create")
    from provisioner.drivers import driver_for
    from provisioner.spec import load_spec

    spec = load_spec(spec_path)
    driver = driver_for(spec.cloud)
    backend = driver.make_backend()
    with backend.endpoint(spec) as endpoint:
        yield Connection(
            endpoint=endpoint,
            cluster_name=spec.name,
            checkpoint_uri=backend.checkpoint_uri(spec),
            same_filesystem=driver.same_filesystem,
        )
