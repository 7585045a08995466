"""The box's VMs: a network namespace with the instance's private IP, a PID, mount and UTS
namespace of its own, and a real OpenSSH sshd that accepts the instance's keys.

A VM reads the host's files, so the project's virtualenv is its image (Ray preinstalled);
what is its own is /tmp, /run, /dev/shm and the login user's home (kept under the box's state
directory, so a stopped VM keeps its disk), plus the environment an image would carry: PATH
with the virtualenv first and the cloud's API endpoint. Runs in the box server, inside the
core namespace (tests/cloudbox/network.py).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.cloudbox import network

VM_INIT = Path(__file__).with_name("vm_init.py")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class VmSpec:
    """What the cloud says a VM is: its id, address, login and the image's environment."""

    vm_id: str
    ip: str
    hostname: str
    user: str
    authorized_keys: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    sshd: bool = True  # False: the image's sshd does not start (a fault tests inject)
    hosts: tuple[tuple[str, str], ...] = ()  # (name, address) the image resolves, e.g. the metadata server's name


@dataclass
class Vm:
    spec: VmSpec
    folder: Path
    namespace: str
    process: subprocess.Popen[bytes]
    state: str = "running"
    started: float = field(default_factory=time.time)

    def main_pid(self) -> int | None:
        """The VM's init as the host sees it (the child of `unshare --fork`)."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def memory_mb(self) -> float:
        """Proportional set size of every process in the VM (shared pages split fairly)."""
        total_kb = 0
        for pid in network.namespace_pids(self.namespace):
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
            except OSError:
                continue
        return round(total_kb / 1024, 1)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.spec.vm_id,
            "ip": self.spec.ip,
            "hostname": self.spec.hostname,
            "state": self.state,
            "main_pid": self.main_pid() if self.state == "running" else None,
            "memory_mb": self.memory_mb() if self.state == "running" else 0.0,
            "uptime_s": round(time.time() - self.started, 1),
        }


def _sshd_config(spec: VmSpec, folder: Path) -> str:
    return "\n".join(
        [
            f"ListenAddress {spec.ip}:22",
            f"HostKey {folder}/ssh_host_ed25519_key",
            "PidFile /run/sshd.pid",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",  # the login user is uid 0, as sudo-able cloud users effectively are
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "AuthorizedKeysFile .ssh/authorized_keys",
            "PermitUserEnvironment yes",
            "AllowTcpForwarding yes",
            "X11Forwarding no",
            "PrintMotd no",
            "MaxSessions 64",
            "MaxStartups 64:30:128",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def _write_home(spec: VmSpec, home: Path) -> None:
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text("".join(k.strip() + "\n" for k in spec.authorized_keys))
    os.chmod(ssh / "authorized_keys", 0o600)
    env = dict(spec.env)
    # sshd hands ~/.ssh/environment to every session; login shells reset PATH from
    # /etc/profile, so ~/.bashrc (which Ray's commands source) sets it again.
    (ssh / "environment").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    (home / ".bashrc").write_text("# the cloud box image's environment\n" + exports)
    (home / ".profile").write_text('[ -n "$BASH_VERSION" ] && . "$HOME/.bashrc"\n')


def _passwd(user: str, folder: Path) -> Path:
    """The image's login user (uid 0, home /home/USER) first, then the host's users: uid 0
    must map back to the login user, because ssh and others expand `~` from the passwd
    entry of their uid, not from $HOME (Ray's head runs `ssh -i ~/ray_bootstrap_key.pem`)."""
    lines = [f"{user}:x:0:0:{user}:/home/{user}:/bin/bash"]
    lines += [line for line in Path("/etc/passwd").read_text().splitlines() if not line.startswith(f"{user}:")]
    path = folder / "passwd"
    path.write_text("\n".join(lines) + "\n")
    return path


def _hosts(spec: VmSpec, folder: Path) -> Path:
    path = folder / "hosts"
    extra = "".join(f"{address} {name}\n" for name, address in spec.hosts)
    path.write_text(f"127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n{spec.ip} {spec.hostname}\n{extra}")
    return path


class VmHost:
    """Boots, stops and terminates VMs; one per cloud instance."""

    def __init__(self, state_dir: Path, layout: network.Layout, shm_mb: int = 1024) -> None:
        self.root = state_dir / "vms"
        self.root.mkdir(parents=True, exist_ok=True)
        self.layout = layout
        self.shm_mb = shm_mb
        self.vms: dict[str, Vm] = {}
        self._lock = threading.RLock()

    def boot(self, spec: VmSpec) -> Vm:
        with self._lock:
            current = self.vms.get(spec.vm_id)
            if current is not None and current.state == "running":
                return current
            folder = self.root / spec.vm_id
            home, tmp = folder / "home", folder / "tmp"
            for path in (home, tmp):
                path.mkdir(parents=True, exist_ok=True)
            key = folder / "ssh_host_ed25519_key"
            if not key.exists():  # a restarted VM keeps its host key, as a stopped instance does
                network.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", spec.hostname, "-f", str(key))
            (folder / "sshd_config").write_text(_sshd_config(spec, folder))
            _write_home(spec, home)
            config = {
                "hostname": spec.hostname,
                "ip": spec.ip,
                "user": spec.user,
                "home_dir": str(home),
                "tmp_dir": str(tmp),
                "passwd": str(_passwd(spec.user, folder)),
                "hosts": str(_hosts(spec, folder)),
                "sshd_config": str(folder / "sshd_config"),
                "sshd": spec.sshd,
                "shm_mb": self.shm_mb,
                "log": str(folder / "console.log"),
            }
            (folder / "vm.json").write_text(json.dumps(config, indent=2))
            (folder / "spec.json").write_text(json.dumps(asdict(spec), indent=2))
            namespace = network.add_vm(spec.vm_id, spec.ip, self.layout)
            command = [
                "ip", "netns", "exec", namespace,
                "unshare", "--fork", "--pid", "--mount-proc", "--mount", "--uts", "--propagation", "private", "--kill-child",
                sys.executable, str(VM_INIT), str(folder / "vm.json"),
            ]  # fmt: skip
            with (folder / "console.log").open("ab") as console:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=console,
                    stderr=console,
                    start_new_session=True,
                    env={"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "HOME": "/root"},
                )
            vm = Vm(spec=spec, folder=folder, namespace=namespace, process=process)
            self.vms[spec.vm_id] = vm
            return vm

    def stop(self, vm_id: str, grace_s: float = 10.0) -> None:
        """Stop the VM's processes and network; keep its disk (home, /tmp) for a restart."""
        with self._lock:
            vm = self.vms.get(vm_id)
            if vm is None or vm.state != "running":
                return
            pid = vm.main_pid()
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGTERM)
                    vm.process.wait(timeout=grace_s)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            network.kill_namespace(vm.namespace)
            vm.process.wait()
            vm.state = "stopped"

    def terminate(self, vm_id: str) -> None:
        """Kill everything in the VM at once and remove its disk, as a terminated instance."""
        with self._lock:
            vm = self.vms.pop(vm_id, None)
            if vm is None:
                return
            network.kill_namespace(vm.namespace)
            vm.process.wait()
            shutil.rmtree(vm.folder, ignore_errors=True)

    def crashed(self) -> list[str]:
        """Running VMs whose init is gone (killed from outside)."""
        with self._lock:
            return [vm_id for vm_id, vm in self.vms.items() if vm.state == "running" and vm.process.poll() is not None]

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vm.describe() for vm in self.vms.values()]

    def shutdown(self) -> None:
        with self._lock:
            for vm_id in list(self.vms):
                self.terminate(vm_id)
