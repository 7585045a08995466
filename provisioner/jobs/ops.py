"""Submit, follow, list, fetch logs of and stop Ray jobs."""

from __future__ import annotations

import asyncio
import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.cluster.dashboard import DashboardEndpoint
from provisioner.errors import ClusterError, UsageError
from provisioner.jobs.client import TERMINAL, job_client
from provisioner.jobs.runtime_env import build_runtime_env

TAIL_LINES = 30


@dataclass
class SubmitRequest:
    entrypoint: list[str]
    working_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    excludes: list[str] = field(default_factory=list)
    name: str | None = None
    checkpoint_uri: str | None = None
    cluster_name: str | None = None
    same_filesystem: bool = False  # the cluster runs on this machine (see runtime_env.py)


@dataclass
class JobOutcome:
    job_id: str
    status: str
    message: str | None
    exit_code: int  # 0 succeeded, 1 failed or stopped, 130 interrupted (and stopped)
    tail: list[str] = field(default_factory=list)


def submit(endpoint: DashboardEndpoint, request: SubmitRequest) -> str:
    if not request.entrypoint:
        raise UsageError("no entrypoint given", hint="rlcloud submit SPEC -- python -m runtime.train --config examples/job.yaml")
    if not request.working_dir.is_dir():
        raise UsageError(f"--working-dir {request.working_dir} is not a directory")
    client = job_client(endpoint)
    runtime_env = build_runtime_env(
        request.working_dir.resolve(),
        request.env,
        request.excludes,
        request.checkpoint_uri,
        request.cluster_name,
        same_filesystem=request.same_filesystem,
    )
    kwargs: dict[str, Any] = {"entrypoint": shlex.join(request.entrypoint), "runtime_env": runtime_env}
    if request.name:
        kwargs["submission_id"] = request.name
        kwargs["metadata"] = {"rlcloud_name": request.name}
    try:
        return str(client.submit_job(**kwargs))
    except Exception as exc:
        text = str(exc)
        if request.name and "already exists" in text:
            raise UsageError(f"a job named {request.name!r} already exists on this cluster", hint="pick another --name") from None
        raise ClusterError(f"submitting the job failed: {text.strip().splitlines()[-1] if text.strip() else exc!r}") from None


def follow_logs(endpoint: DashboardEndpoint, job_id: str, write: Callable[[str], None]) -> None:
    """Stream the job's logs until it ends (Ray closes the stream at a terminal state).

    The stream runs on a daemon thread while this (the main) thread waits in short joins, so a
    Ctrl-C always reaches the caller as KeyboardInterrupt at once. Inside `asyncio.run` it
    depends on the stream's coroutine being cancelled promptly, which under load it sometimes
    was not: the CLI then kept following a job the user had asked to stop."""
    client = job_client(endpoint)
    failure: list[BaseException] = []

    async def pump() -> None:
        async for chunk in client.tail_job_logs(job_id):
            write(chunk)

    def run() -> None:
        try:
            asyncio.run(pump())
        except BaseException as exc:  # handed to the main thread below
            failure.append(exc)

    reader = threading.Thread(target=run, name=f"logs-{job_id}", daemon=True)
    reader.start()
    while reader.is_alive():
        reader.join(0.2)
    if failure:
        exc = failure[0]
        if isinstance(exc, RuntimeError) and "does not exist" in str(exc):
            raise ClusterError(f"no job {job_id!r} on this cluster") from None
        raise ClusterError(f"lost the log stream of {job_id}: {exc}") from None


def wait_terminal(endpoint: DashboardEndpoint, job_id: str, timeout_s: float = 60.0, poll_s: float = 0.25) -> str:
    client = job_client(endpoint)
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(client.get_job_status(job_id))
        if status in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(poll_s)


def outcome(endpoint: DashboardEndpoint, job_id: str, interrupted: bool = False) -> JobOutcome:
    client = job_client(endpoint)
    info = client.get_job_info(job_id)
    status = str(info.status)
    lines = (client.get_job_logs(job_id) or "").splitlines()
    code = 130 if interrupted else (0 if status == "SUCCEEDED" else 1)
    return JobOutcome(job_id=job_id, status=status, message=info.message, exit_code=code, tail=lines[-TAIL_LINES:])


def run_and_follow(endpoint: DashboardEndpoint, request: SubmitRequest, write: Callable[[str], None], notify: Callable[[str], None]) -> JobOutcome:
    """Submit, stream logs, return the outcome. Ctrl-C asks Ray to stop the job, then 130."""
    job_id = submit(endpoint, request)
    notify(f"submitted job {job_id}; following its logs (Ctrl-C stops the job)")
    try:
        follow_logs(endpoint, job_id, write)
        wait_terminal(endpoint, job_id)
    except KeyboardInterrupt:
        notify(f"interrupted: asking Ray to stop job {job_id}")
        stop(endpoint, job_id)
        return outcome(endpoint, job_id, interrupted=True)
    return outcome(endpoint, job_id)


def list_jobs(endpoint: DashboardEndpoint) -> list[Any]:
    jobs = job_client(endpoint).list_jobs()
    return sorted(jobs, key=lambda j: j.start_time or 0)


def logs(endpoint: DashboardEndpoint, job_id: str) -> str:
    client = job_client(endpoint)
    try:
        return str(client.get_job_logs(job_id))
    except RuntimeError as exc:
        raise ClusterError(f"no job {job_id!r} on this cluster ({str(exc).strip().splitlines()[-1]})") from None


def stop(endpoint: DashboardEndpoint, job_id: str, timeout_s: float = 30.0) -> str:
    client = job_client(endpoint)
    try:
        client.stop_job(job_id)
    except RuntimeError as exc:
        raise ClusterError(f"no job {job_id!r} on this cluster ({str(exc).strip().splitlines()[-1]})") from None
    return wait_terminal(endpoint, job_id, timeout_s=timeout_s)


def stdout_writer(chunk: str) -> None:
    sys.stdout.write(chunk)
    sys.stdout.flush()
