"""`python -m runtime.train --config examples/job.yaml [--set key=value ...]`

The RL job: trains the configured policy on its verifiable task, printing one line per step,
resuming from the newest checkpoint under `<checkpoint_uri>/<run_name>` if there is one. Run by
`rlcloud submit` as a Ray job (ray.init() joins that cluster) or by hand (ray.init() starts
or joins a local one).

Exit codes: 0 done, 2 bad config or command line (message, no traceback), 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.errors import RlcloudError

if TYPE_CHECKING:
    from runtime.config import RayRuntimeConfig


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="job config YAML (see examples/job.yaml)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field; repeatable; dotted keys reach sections (task.group_size=8)",
    )
    parser.add_argument("--export-hf", metavar="DIR", help="after training, write the policy as a Hugging Face-style folder here")
    parser.add_argument("--help-config", action="store_true", help="list every config field with its default and description")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage
        return 0 if exc.code == 0 else 2
    try:
        from runtime.config_load import describe_fields, load_config

        if args.help_config:
            print("\n".join(describe_fields()))
            return 0
        config = load_config(args.config, args.overrides)
        export_hf = str(Path(args.export_hf).expanduser().resolve()) if args.export_hf else None
        return _run(config, export_hf)
    except RlcloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _run(config: RayRuntimeConfig, export_hf: str | None) -> int:
    # Import torch (and everything the driver needs) before joining the cluster. On a
    # fake_multinode cluster every simulated node unpacks an *uploaded* working_dir into the
    # same shared folder, replacing it, so this process's cwd can vanish once workers start
    # on other nodes; torch's MKL then fails to load. `rlcloud submit` avoids that on local
    # clusters (it runs jobs in place, local://); a job uploaded by other means still works
    # because nothing here reads cwd-relative paths after this point.
    import torch  # noqa: F401

    from runtime.driver import RayRuntime

    started = time.monotonic()
    with RayRuntime(config) as runtime:
        summary = runtime.train()
        if export_hf:
            folder = runtime.export_for_hf(export_hf)
            print(f"exported the policy to {folder}")
    if summary.first_reward is not None and summary.last_reward is not None:
        print(f"done: step {summary.steps}, mean reward {summary.first_reward:.2f} -> {summary.last_reward:.2f} in {time.monotonic() - started:.0f}s")
    else:
        print(
            f"done: run {config.run_name!r} had already reached step {summary.steps} (max_steps); nothing to train. "
            "Use a new run_name (--set run_name=...) to train from scratch, or raise max_steps to continue."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
