"""PID 1 of a cloud-box VM (standard library only: it runs before anything is importable).

Started by tests/cloudbox/vm.py as
    ip netns exec NS unshare --fork --pid --mount-proc --mount --uts --propagation private \
        python vm_init.py VM_JSON
so it already has the VM's network namespace, its own process table and private mounts.
It gives the VM its own hostname, /run, /tmp, /dev/shm, home and /etc/passwd (the host's
plus the image's login user), starts OpenSSH's sshd, reaps orphans as an init must, and on
SIGTERM stops everything in the VM. SIGKILL from outside ends the PID namespace, which
kills every process in it at once: that is how a VM is terminated.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any


class _Stop(Exception):
    pass


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _prepare(cfg: dict[str, Any]) -> None:
    socket.sethostname(cfg["hostname"])
    _mount("-t", "tmpfs", "-o", "mode=755,size=64m", "tmpfs", "/run")
    os.makedirs("/run/sshd", mode=0o755)  # sshd's privilege-separation directory
    os.chmod(cfg["tmp_dir"], 0o1777)
    _mount("--bind", cfg["tmp_dir"], "/tmp")
    _mount("-t", "tmpfs", "-o", f"size={cfg['shm_mb']}m", "tmpfs", "/dev/shm")
    _mount("-t", "tmpfs", "-o", "mode=755,size=16m", "tmpfs", "/home")
    home = f"/home/{cfg['user']}"
    os.makedirs(home)
    _mount("--bind", cfg["home_dir"], home)
    _mount("--bind", cfg["passwd"], "/etc/passwd")
    _mount("--bind", cfg["hosts"], "/etc/hosts")  # the VM's own name resolves, as VPC DNS does


def _announce(ip: str, interface: str = "eth0") -> None:
    """A gratuitous ARP, as a booting VM's network stack sends: neighbours that knew another
    MAC for this address (an instance before it that had the same IP) learn the new one at
    once instead of sending into the void until their cache expires."""
    mac = bytes.fromhex(open(f"/sys/class/net/{interface}/address").read().strip().replace(":", ""))
    address = socket.inet_aton(ip)
    frame = b"\xff" * 6 + mac + b"\x08\x06"  # broadcast, ARP
    frame += b"\x00\x01\x08\x00\x06\x04\x00\x01" + mac + address + b"\x00" * 6 + address
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
        raw.bind((interface, 0))
        for _ in range(3):
            raw.send(frame)
            time.sleep(0.05)


def _stop_all(grace_s: float = 3.0) -> None:
    """kill(-1) inside a PID namespace reaches every process of the VM but init."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(-1, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    time.sleep(0.05)
            except ChildProcessError:
                return


def main() -> None:
    cfg = json.loads(open(sys.argv[1]).read())
    _prepare(cfg)
    _announce(cfg["ip"])
    log = open(cfg["log"], "ab", buffering=0)
    if cfg.get("sshd", True):
        subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", cfg["sshd_config"]], stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    else:
        log.write(b"vm_init: sshd not started (fault injected)\n")

    def on_term(*_: object) -> None:
        raise _Stop  # a handler that returns would let the blocking waitpid resume (PEP 475)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    log.write(f"vm_init: {cfg['hostname']} up\n".encode())
    try:
        while True:
            try:
                os.waitpid(-1, 0)  # reap whatever was reparented to us
            except ChildProcessError:
                time.sleep(0.2)
    except _Stop:
        pass
    _stop_all()
    log.write(b"vm_init: stopped\n")


if __name__ == "__main__":
    main()
