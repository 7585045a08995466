"""An SSH tunnel from this machine to the head's dashboard, as `ray dashboard cluster.yaml` does.

The dashboard listens on the head's 127.0.0.1 only and no Ray port is open to the outside, so
every Jobs API call to a cloud cluster goes through `ssh -L`. The ssh binary can be replaced
(RLCLOUD_SSH) for users with wrappers, and for tests that stand in for the network.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import ClusterError

REMOTE_DASHBOARD_PORT = 8265


@dataclass(frozen=True)
class TunnelSpec:
    host: str
    user: str
    private_key: Path
    known_hosts: Path
    local_port: int
    remote_port: int = REMOTE_DASHBOARD_PORT
    ssh_binary: str = "ssh"

    def _ssh(self) -> list[str]:
        return [
            *shlex.split(self.ssh_binary),
            "-i", str(self.private_key),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",  # never prompt: fail instead of hanging on a password
            "-o", "StrictHostKeyChecking=accept-new",  # pin the head's key on first use
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4",
            "-o", "ConnectTimeout=15",
        ]  # fmt: skip

    def command(self) -> list[str]:
        """The ssh invocation: forward 127.0.0.1:local -> head's 127.0.0.1:remote, no shell."""
        return [
            *self._ssh(),
            "-N",  # no remote command: forwarding only
            "-L", f"127.0.0.1:{self.local_port}:127.0.0.1:{self.remote_port}",
            "-o", "ExitOnForwardFailure=yes",
            f"{self.user}@{self.host}",
        ]  # fmt: skip

    def remote(self, command: str) -> list[str]:
        """The ssh invocation that runs `command` on the head (for fetching its logs)."""
        return [*self._ssh(), f"{self.user}@{self.host}", command]


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def pick_local_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SshTunnel:
    """Context manager: start ssh, wait for the forwarded port, stop ssh on exit."""

    def __init__(self, spec: TunnelSpec, ready_timeout_s: float = 30.0) -> None:
        self.spec = spec
        self.ready_timeout_s = ready_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.spec.local_port}"

    def __enter__(self) -> SshTunnel:
        self.spec.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(self.spec.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.ready_timeout_s
        while not _port_open(self.spec.local_port):
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace").strip()
                raise ClusterError(
                    f"SSH tunnel to {self.spec.user}@{self.spec.host} failed (exit {self._proc.returncode}): {err[-400:]}",
                    hint="is the head up and your IP in the spec's network.ssh_cidrs?",
                )
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise ClusterError(f"SSH tunnel to {self.spec.host} did not open within {self.ready_timeout_s:.0f}s")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc is not None and self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None


def ssh_binary() -> str:
    return os.environ.get("RLCLOUD_SSH", "ssh")
