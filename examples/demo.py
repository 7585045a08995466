"""`make demo`: the commands a user runs on a cloud, on this machine.

    rlcloud up examples/local.yaml
    rlcloud submit examples/local.yaml -- python -m runtime.train --config examples/job.yaml
    rlcloud down examples/local.yaml

Each command is printed before it runs; `down` runs even if the job fails or you press
Ctrl-C, so the demo never leaves a cluster behind.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = "examples/local.yaml"


def job_command() -> list[str]:
    """The RL job: a tiny policy learns a verifiable task; mean reward climbs as it trains."""
    # A fresh run name each time: the same name would resume the finished run from its last
    # checkpoint (that is what resuming is for) and have nothing left to train.
    return ["python", "-m", "runtime.train", "--config", "examples/job.yaml", "--set", f"run_name=demo-{time.strftime('%Y%m%d-%H%M%S')}"]


def run(args: list[str]) -> int:
    print(f"\n$ {shlex.join(args)}", flush=True)
    return subprocess.call([str(Path(sys.executable).with_name(args[0])), *args[1:]], cwd=ROOT)


def main() -> int:
    start = time.monotonic()
    code = run(["rlcloud", "up", SPEC])
    if code != 0:
        return code
    try:
        code = run(["rlcloud", "submit", SPEC, "--", *job_command()])
        run(["rlcloud", "status", SPEC])
    except KeyboardInterrupt:
        code = 130
    finally:
        run(["rlcloud", "down", SPEC])
    print(f"\ndemo finished in {time.monotonic() - start:.0f}s (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main())
