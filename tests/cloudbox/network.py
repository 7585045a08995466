"""The box's network: namespaces, one bridge, and the rules that keep it hermetic.

    host netns                 rlcb-core netns                     rlcb-<vm> netns
    rlcb-host 172.31.255.254 ─ rlcb-hp ┐                           eth0 <private ip>/16
    (a source address only)            ├ br0 172.31.255.253 (API)  ─┘  default via .253
                                       │     169.254.169.254 (IMDS)
                                       └ vb<hash> ── one per VM

- Everything anything connects to lives in a namespace the box made: the API and metadata
  servers in the core namespace, sshd and Ray in each VM's.
- The host's bridge address is a source only: the host firewall refuses connections to it
  from the bridge, so no host service is reachable from a VM.
- Nothing leaves: the host does not forward (ip_forward stays as it is, and the firewall
  drops forwarding to and from the bridge); the core namespace, the VMs' default gateway,
  answers every other destination with "no route to host"; packets the host sends to box
  addresses can only leave through the bridge.
- Every name starts with `rlcb`, so whatever a killed box left is found and removed.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from dataclasses import dataclass

PREFIX = "rlcb"
CORE_NS = f"{PREFIX}-core"
BRIDGE = "br0"
HOST_IF = f"{PREFIX}-host"
CORE_HOST_PORT = f"{PREFIX}-hp"
NFT_TABLE = "rlcloud_cloudbox"
METADATA_IP = "169.254.169.254"
BRIDGE_MAC = "02:72:6c:63:62:01"  # locally administered
VM_NS_PREFIX = f"{PREFIX}-vm-"


class NetworkError(RuntimeError):
    pass


@dataclass(frozen=True)
class Layout:
    """The addresses of one box: the cloud's VPC range, the core's and the host's addresses."""

    cidr: str
    core_ip: str
    host_ip: str

    @property
    def prefix_len(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen

    @classmethod
    def for_cidr(cls, cidr: str) -> Layout:
        """The last two addresses of the range: clouds hand out instance IPs from the bottom."""
        network = ipaddress.ip_network(cidr)
        return cls(cidr=cidr, core_ip=str(network.broadcast_address - 2), host_ip=str(network.broadcast_address - 1))


def run(*args: str, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, input=input_text)
    if check and done.returncode != 0:
        raise NetworkError(f"`{' '.join(args)}` failed: {(done.stderr or done.stdout).strip()}")
    return done


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", *(("-n", ns) if ns else ()), *args, check=check)


def namespaces() -> list[str]:
    out = run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def namespace_pids(name: str) -> list[int]:
    out = run("ip", "netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def kill_namespace(name: str, timeout_s: float = 5.0) -> None:
    """SIGKILL every process in the namespace (a VM's init first: that ends its PID
    namespace), then delete it; its veth pair goes with it."""
    deadline = time.monotonic() + timeout_s
    while True:
        pids = namespace_pids(name)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise NetworkError(f"processes {pids} in namespace {name} survive SIGKILL")
        time.sleep(0.05)
    run("ip", "netns", "del", name, check=False)


def overlapping_routes(cidr: str) -> list[str]:
    """Host routes that already use the box's range (the box refuses to start over them)."""
    wanted = ipaddress.ip_network(cidr)
    found = []
    for line in run("ip", "-4", "route", "show", "table", "all", check=False).stdout.splitlines():
        for token in line.split()[:2]:  # "DEST ..." or "TYPE DEST ..."; the default route overlaps nothing in particular
            try:
                net = ipaddress.ip_network(token, strict=False)
            except ValueError:
                continue
            if net.overlaps(wanted) and HOST_IF not in line:
                found.append(line.strip())
            break
    return found


def _host_firewall(layout: Layout) -> str:
    return f"""
table inet {NFT_TABLE} {{
  chain input {{
    type filter hook input priority -10; policy accept;
    iifname "{HOST_IF}" ct state established,related accept
    iifname "{HOST_IF}" reject
  }}
  chain forward {{
    type filter hook forward priority -10; policy accept;
    iifname "{HOST_IF}" drop
    oifname "{HOST_IF}" drop
  }}
  chain output {{
    type filter hook output priority -10; policy accept;
    ip daddr {layout.cidr} oifname != "{HOST_IF}" reject
    ip daddr {METADATA_IP} reject
  }}
}}
"""


def create(layout: Layout) -> None:
    """The core namespace with its bridge, the host's veth onto it, and the host firewall."""
    run("ip", "netns", "add", CORE_NS)
    ip("link", "set", "lo", "up", ns=CORE_NS)
    # A fixed address: a bridge otherwise takes the lowest MAC of its ports, so each VM
    # joining or leaving would change it under the host's ARP cache (API calls then hang).
    ip("link", "add", BRIDGE, "address", BRIDGE_MAC, "type", "bridge", ns=CORE_NS)
    ip("addr", "add", f"{layout.core_ip}/{layout.prefix_len}", "dev", BRIDGE, ns=CORE_NS)
    ip("addr", "add", f"{METADATA_IP}/32", "dev", BRIDGE, ns=CORE_NS)
    ip("link", "set", BRIDGE, "up", ns=CORE_NS)
    # The VMs' gateway: it forwards nothing anywhere (no route but the range itself), and
    # says so at once instead of letting connections to the outside hang.
    run("ip", "netns", "exec", CORE_NS, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    ip("route", "add", "unreachable", "default", ns=CORE_NS)
    run("nft", "-f", "-", input_text=_host_firewall(layout))
    ip("link", "add", HOST_IF, "type", "veth", "peer", "name", CORE_HOST_PORT, "netns", CORE_NS)
    ip("link", "set", CORE_HOST_PORT, "master", BRIDGE, "up", ns=CORE_NS)
    ip("addr", "add", f"{layout.host_ip}/{layout.prefix_len}", "dev", HOST_IF)
    ip("link", "set", HOST_IF, "up")


def destroy() -> list[str]:
    """Remove everything any box made (a running one, or what a killed one left): the VMs'
    and the core's namespaces with every process in them, the host veth and firewall."""
    removed = []
    for name in namespaces():
        if name.startswith(VM_NS_PREFIX):
            kill_namespace(name)
            removed.append(f"namespace {name}")
    if CORE_NS in namespaces():
        kill_namespace(CORE_NS)
        removed.append(f"namespace {CORE_NS}")
    if ip("link", "show", HOST_IF, check=False).returncode == 0:
        ip("link", "del", HOST_IF, check=False)
        removed.append(f"interface {HOST_IF}")
    if run("nft", "list", "table", "inet", NFT_TABLE, check=False).returncode == 0:
        run("nft", "delete", "table", "inet", NFT_TABLE, check=False)
        removed.append(f"nft table {NFT_TABLE}")
    return removed


def vm_names(vm_id: str) -> tuple[str, str]:
    """(namespace, core-side veth name) of a VM; interface names are at most 15 bytes."""
    import hashlib

    return f"{VM_NS_PREFIX}{vm_id}", "vb" + hashlib.sha1(vm_id.encode()).hexdigest()[:12]


def vm_mac(vm_id: str) -> str:
    import hashlib

    digest = hashlib.sha1(vm_id.encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])  # locally administered, unicast


def add_vm(vm_id: str, vm_ip: str, layout: Layout) -> str:
    """Run from the core namespace: a VM namespace wired to the bridge; returns its name."""
    ns, veth = vm_names(vm_id)
    run("ip", "netns", "add", ns)
    try:
        # The interface keeps the instance's MAC across stop and start, as an ENI does.
        ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "address", vm_mac(vm_id), "netns", ns)
        ip("link", "set", veth, "master", BRIDGE, "up")
        ip("addr", "add", f"{vm_ip}/{layout.prefix_len}", "dev", "eth0", ns=ns)
        ip("link", "set", "eth0", "up", ns=ns)
        ip("link", "set", "lo", "up", ns=ns)
        ip("route", "add", "default", "via", layout.core_ip, ns=ns)
    except NetworkError:
        kill_namespace(ns)
        raise
    return ns
