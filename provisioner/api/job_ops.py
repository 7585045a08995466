"""Jobs on a cluster: submit (and follow), list, logs, stop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioner.cluster.connect import connect
from provisioner.jobs import ops
from provisioner.jobs.ops import JobOutcome, SubmitRequest


def submit(
    spec_path: Path | None,
    entrypoint: list[str],
    *,
    working_dir: Path = Path("."),
    env: dict[str, str] | None = None,
    excludes: list[str] | None = None,
    name: str | None = None,
    follow: bool = True,
    address: str | None = None,
    token_file: Path | None = None,
    write: Callable[[str], None] = ops.stdout_writer,
    notify: Callable[[str], None] = lambda line: None,
) -> JobOutcome | str:
    """Submit a job; with `follow`, stream its logs and return its outcome, else its id."""
    with connect(spec_path, address, token_file) as conn:
        request = SubmitRequest(
            entrypoint=entrypoint,
            working_dir=working_dir,
            env=env or {},
            excludes=excludes or [],
            name=name,
            checkpoint_uri=conn.checkpoint_uri,
            cluster_name=conn.cluster_name,
            same_filesystem=conn.same_filesystem,
        )
        if not follow:
            return ops.submit(conn.endpoint, request)
        return ops.run_and_follow(conn.endpoint, request, write, notify)


def jobs(spec_path: Path | None, *, address: str | None = None, token_file: Path | None = None) -> list[Any]:
    with connect(spec_path, address, token_file) as conn:
        return ops.list_jobs(conn.endpoint)


def logs(
    spec_path: Path | None,
    job_id: str,
    *,
    follow: bool = False,
    address: str | None = None,
    token_file: Path | None = None,
    write: Callable[[str], None] = ops.stdout_writer,
) -> None:
    with connect(spec_path, address, token_file) as conn:
        if follow:
            ops.follow_logs(conn.endpoint, job_id, write)
        else:
            write(ops.logs(conn.endpoint, job_id))


def stop(spec_path: Path | None, job_id: str, *, address: str | None = None, token_file: Path | None = None) -> str:
    with connect(spec_path, address, token_file) as conn:
        return ops.stop(conn.endpoint, job_id)
