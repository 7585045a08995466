"""The cloud box's commands. Bad input: one line on stderr, exit 2; a box that fails: exit 1.

python -m tests.cloudbox start aws --env-file FILE   # returns once the box is ready
python -m tests.cloudbox vms --env-file FILE         # instance id, IP, state, main pid
python -m tests.cloudbox stop --env-file FILE        # removes everything the box made
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from tests.cloudbox import box


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"cloudbox: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m tests.cloudbox",
        description="A cloud on this machine for rlcloud's tests: the cloud's API (moto for AWS), VMs as "
        "namespaces running sshd, and an instance metadata service. Needs root. Nothing leaves the machine.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    start = commands.add_parser("start", help="start a box; returns once it is ready")
    start.add_argument("cloud", help="which cloud to simulate: " + ", ".join(sorted(box.CLOUDS)))
    start.add_argument("--env-file", type=Path, required=True, help="write KEY=VALUE lines here that point rlcloud, boto3 and ray at the box")
    start.add_argument(
        "--state-dir", type=Path, default=box.DEFAULT_STATE_DIR, help=f"where the box keeps its state (default {box.DEFAULT_STATE_DIR})"
    )
    for name, text in (("vms", "list the VMs: instance id, IP, state, main pid, memory"), ("stop", "stop the box and remove everything it made")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--env-file", type=Path, required=True, help="the env file `start` wrote")
    return parser


def _vms_table(rows: list[dict[str, object]]) -> str:
    header = f"{'INSTANCE':<22} {'IP':<16} {'STATE':<9} {'PID':>8} {'MEM MB':>8}"
    lines = [header]
    for row in rows:
        pid = row.get("main_pid") or "-"
        lines.append(f"{row['id']!s:<22} {row['ip']!s:<16} {row['state']!s:<9} {pid!s:>8} {row.get('memory_mb', 0)!s:>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        if args.command == "start":
            lines = box.start(args.cloud, args.env_file, args.state_dir)
        elif args.command == "vms":
            lines = [_vms_table(box.vms(args.env_file))]
        else:
            lines = box.stop(args.env_file)
    except box.BoxError as exc:
        print(f"cloudbox: {exc}", file=sys.stderr)
        sys.exit(2)
    except (box.BoxFailure, OSError) as exc:
        print(f"cloudbox: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("cloudbox: interrupted", file=sys.stderr)
        sys.exit(130)
    print("\n".join(lines))
