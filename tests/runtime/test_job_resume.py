"""The job as `rlcloud submit` runs it (`python -m runtime.train --config examples/job.yaml`),
SIGKILLed mid-run and submitted again: the second job resumes from the newest complete
checkpoint in S3 (moto server), repeats the lost steps with the same rewards, and finishes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from runtime.checkpoint.store import CheckpointStore
from tests.runtime.conftest import REPO, job_env, run_job
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.cluster

RUN = "resume-test"
STEP_RE = re.compile(r"^step (\d+)/(\d+) reward ([0-9.]+) ")


def rewards_by_step(lines: list[str]) -> dict[int, str]:
    return {int(m.group(1)): m.group(3) for m in map(STEP_RE.match, lines) if m}


def test_killed_job_is_resubmitted_and_resumes(ray_cluster: str, moto_server: MotoServer, s3_uri: str) -> None:
    args = [
        "--config",
        "examples/job.yaml",
        "--set",
        f"run_name={RUN}",
        "--set",
        "max_steps=40",
        "--set",
        "checkpoint_every=10",
        "--set",
        "tensorboard_logdir=",
    ]
    env = job_env(moto_server, ray_cluster, RLCLOUD_CHECKPOINT_URI=s3_uri)  # as `rlcloud submit` passes it

    # First job: killed (SIGKILL, the whole driver) a couple of steps after a checkpoint.
    first = subprocess.Popen(
        [sys.executable, "-m", "runtime.train", *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen: list[str] = []
    deadline = time.monotonic() + 240
    assert first.stdout is not None
    for line in first.stdout:
        seen.append(line.rstrip("\n"))
        match = STEP_RE.match(line)
        if match and int(match.group(1)) >= 12 and int(match.group(1)) % 10 in (2, 3):
            os.kill(first.pid, signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "\n".join(seen[-30:])
    first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL, "\n".join(seen[-30:])
    killed_at = max(rewards_by_step(seen))
    newest = CheckpointStore(f"{s3_uri}/{RUN}").latest()
    assert newest is not None and newest.step == killed_at // 10 * 10

    # Second job, same command: resumes from that checkpoint and finishes.
    second = run_job(args, env, timeout=300)
    lines = second.stdout.splitlines()
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert any(line.startswith(f"resumed from step {newest.step} (s3://") for line in lines)
    resumed = rewards_by_step(lines)
    assert sorted(resumed) == list(range(newest.step + 1, 41))
    # The steps both jobs ran have the same rewards: nothing about the learner was lost.
    overlap = sorted(set(resumed) & set(rewards_by_step(seen)))
    assert overlap and all(resumed[s] == rewards_by_step(seen)[s] for s in overlap), overlap
    assert lines[-1].startswith("done: step 40, mean reward 0.1")
    assert [r.step for r in CheckpointStore(f"{s3_uri}/{RUN}").list_complete()][-1] == 40

    # Once more: the run is complete, so the job says so and trains nothing.
    again = run_job(args, env, timeout=300)
    assert again.returncode == 0 and f"run '{RUN}' had already reached step 40" in again.stdout
