"""`ray up` and `ray down` as child processes, with their whole output in a log file.

Run as processes rather than through ray.autoscaler.sdk so that rlcloud can bound them in
time (Ray waits up to 15 minutes for SSH), show their progress (Ray's numbered steps), name
the step that failed, and point at a log that holds everything Ray printed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.errors import ClusterError
from provisioner.progress import Progress

# Ray's CLI logger numbers the stages of `ray up`: "[2/7] Waiting for SSH to become available".
STEP_RE = re.compile(r"\[(\d+)/(\d+)\]\s+(.*\S)")
# ... and the commands of a step: "(1/2) pip install ..."
COMMAND_RE = re.compile(r"\s--\s\((\d+)/(\d+)\)\s+(.*\S)")
# Lines worth quoting when a run fails (Ray's own error summaries).
ERROR_RE = re.compile(r"(?i)(error|failed|exception|denied|refused|timed out|not available|abort)")
RAY_UP_LOG = "ray-up.log"
RAY_DOWN_LOG = "ray-down.log"


@dataclass
class RayRun:
    """What one `ray up` / `ray down` printed: its numbered steps and its last lines."""

    log: Path
    steps: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    command: str | None = None  # the last setup / start command Ray ran

    @property
    def last_step(self) -> str:
        step = self.steps[-1] if self.steps else "starting"
        return f"{step} (last command: {self.command})" if self.command else step

    def reason(self) -> str:
        errors = [line for line in self.tail if ERROR_RE.search(line)]
        return " | ".join((errors or self.tail)[-3:])[-600:] or "(no output)"


def _ray_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ray.scripts.scripts", *args]


def _run(command: list[str], run: RayRun, progress: Progress, timeout_s: float, env: dict[str, str], label: str) -> int | None:
    """Run, teeing output to the log; the exit code, or None when it ran out of time."""
    run.log.parent.mkdir(parents=True, exist_ok=True)
    with run.log.open("w") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
        )
        assert process.stdout is not None

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                log.flush()
                text = line.strip()
                if not text:
                    continue
                run.tail = (run.tail + [text])[-40:]
                step = STEP_RE.search(text)
                command = COMMAND_RE.search(text)
                if command:
                    run.command = command.group(3)
                if step and step.group(3) not in run.steps:
                    run.steps.append(step.group(3))
                    run.command = None
                    progress.step(f"{label}: [{step.group(1)}/{step.group(2)}] {step.group(3)}")

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            process.wait(timeout=max(1.0, timeout_s))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            reader.join(timeout=5)
            return None
        finally:
            if process.poll() is None:  # Ctrl-C: do not leave `ray up` running on its own
                os.killpg(process.pid, signal.SIGKILL)
        reader.join(timeout=5)
        return process.returncode


def ray_up(config_path: Path, *, restart: bool, state_dir: Path, progress: Progress, timeout_s: float) -> RayRun:
    """`ray up`; `restart=False` passes --no-restart, which leaves a running Ray alone (it
    only uploads the new config and runs setup commands). Raises ClusterError on failure."""
    run = RayRun(log=state_dir / RAY_UP_LOG)
    args = ["up", "-y", "--no-config-cache", "--log-style", "record", "--log-color", "false"]
    if not restart:
        args.append("--no-restart")
    env = {
        **os.environ,
        # Ray waits this long for SSH on a new node; keep it within our own deadline.
        "AUTOSCALER_NODE_START_WAIT_S": str(max(30, int(timeout_s))),
        # The head runs the same autoscaler as the local cluster: the one whose structured
        # report the dashboard serves (/api/cluster_status), which `rlcloud status` and the
        # readiness wait read. Autoscaler v2 publishes only a formatted text there.
        "RAY_UP_enable_autoscaler_v2": "0",
    }
    started = time.monotonic()
    code = _run(_ray_command(*args, str(config_path)), run, progress, timeout_s, env, "ray up")
    hint = f"the whole output is in {run.log}; fix the cause and re-run `rlcloud up`, or `rlcloud down` to remove what was made"
    if code is None:
        raise ClusterError(
            f"`ray up` did not finish within {time.monotonic() - started:.0f}s, at step: {run.last_step}; last output: {run.reason()}", hint=hint
        )
    if code != 0:
        raise ClusterError(f"`ray up` failed at step: {run.last_step}: {run.reason()}", hint=hint)
    return run


def ray_down(config_path: Path, *, state_dir: Path, progress: Progress, timeout_s: float = 600.0) -> tuple[bool, RayRun]:
    """`ray down`: stop Ray on the head and terminate every node Ray knows. Returns whether it
    finished; rlcloud's sweep by tag removes what it could not."""
    run = RayRun(log=state_dir / RAY_DOWN_LOG)
    args = ["down", "-y", "--log-style", "record", "--log-color", "false", str(config_path)]
    code = _run(_ray_command(*args), run, progress, timeout_s, dict(os.environ), "ray down")
    return code == 0, run
