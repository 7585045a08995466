"""Start, inspect and stop the cloud box from the host (what `python -m tests.cloudbox` runs).

One box per machine: its namespaces, bridge addresses and firewall table have fixed names.
`start` first removes whatever a killed box left, builds the network, starts the cloud's
server in the core namespace, and writes the env file once the API answers. `stop` asks the
server to terminate every VM, then removes the namespaces, the host interface and firewall
table, the state directory and the env file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cloudbox import control, network, serving
from tests.cloudbox.vm import SYSTEM_PATH

REPO = Path(__file__).resolve().parents[2]
DEFAULT_STATE_DIR = Path("/var/lib/rlcloud-cloudbox")
REGISTRY = Path("/run/rlcloud-cloudbox.json")  # which box runs on this machine
ENV_MARKER = "# rlcloud cloud box"
REQUIRED_TOOLS = {"ip": "iproute2", "nft": "nftables", "unshare": "util-linux", "nsenter": "util-linux", "ssh-keygen": "openssh-client"}
REQUIRED_FILES = {"/usr/sbin/sshd": "openssh-server", "/usr/bin/rsync": "rsync"}


@dataclass(frozen=True)
class CloudBoxKind:
    """What differs between clouds: the VPC range, the server module and the region."""

    name: str
    cidr: str
    server_module: str
    region: str


CLOUDS = {
    # moto's default VPC in every region is 172.31.0.0/16, its subnets 172.31.0.0/20 and up.
    "aws": CloudBoxKind("aws", "172.31.0.0/16", "tests.cloudbox.aws.server", "us-west-2"),
    # The default network's subnet in us-central1 (the fake hands out 10.128.0.x).
    "gcp": CloudBoxKind("gcp", "10.128.0.0/20", "tests.cloudbox.gcp.server", "us-central1"),
    # The VNet rlcloud creates for an Azure cluster (network.address_space's default); its
    # one subnet is the whole range, and Azure hands out its addresses from .4 up.
    "azure": CloudBoxKind("azure", "10.0.0.0/16", "tests.cloudbox.azure.server", "eastus"),
}


class BoxError(Exception):
    """Bad input or a machine the box cannot run on: one line, exit 2."""


class BoxFailure(Exception):
    """The box could not start or stop: exit 1."""


def unusable_reason() -> str | None:
    """Why the box cannot run on this machine (None when it can)."""
    if os.geteuid() != 0:
        return "the cloud box needs root (it creates network namespaces and mounts)"
    missing = [f"{tool} ({package})" for tool, package in REQUIRED_TOOLS.items() if shutil.which(tool) is None]
    missing += [f"{path} ({package})" for path, package in REQUIRED_FILES.items() if not Path(path).exists()]
    if missing:
        return "missing: " + ", ".join(missing) + "; `make test` installs them (apt-get install openssh-server rsync nftables)"
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"this machine does not allow new namespaces: {probe.stderr.strip()}"
    return None


def _registry() -> dict[str, Any] | None:
    try:
        return json.loads(REGISTRY.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie is dead: the server's parent (the `start` that exited) is gone, and the
    # machine's init may not reap it at once.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def running_box() -> dict[str, Any] | None:
    found = _registry()
    return found if found and _alive(found.get("server_pid")) else None


def read_env_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise BoxError(f"cannot read env file {path}: {exc.strerror or exc}") from None
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def _check_writable(path: Path) -> None:
    """Refuse an env file that cannot be written, before anything is made (and make nothing)."""
    if path.is_dir():
        raise BoxError(f"cannot write env file {path}: it is a directory")
    target = path if path.exists() else path.parent
    if not target.exists():
        raise BoxError(f"cannot write env file {path}: {path.parent} does not exist")
    if not os.access(target, os.W_OK):
        raise BoxError(f"cannot write env file {path}: permission denied")


def _wait_for_server(state: Path, server: subprocess.Popen[bytes], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    info_file = state / serving.SERVER_FILE
    while not info_file.exists():
        if server.poll() is not None:
            raise BoxFailure(f"the box server exited ({server.returncode}); its log:\n{_tail(state / 'server.log')}")
        if time.monotonic() > deadline:
            raise BoxFailure(f"the box server was not ready within {timeout_s:.0f}s; its log:\n{_tail(state / 'server.log')}")
        time.sleep(0.1)
    return json.loads(info_file.read_text())  # type: ignore[no-any-return]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _api_answers(endpoint: str, ca_cert: str, timeout_s: float = 30.0) -> None:
    """The API must answer over TLS from the host, through the bridge, before `start` returns."""
    context = ssl.create_default_context(cafile=ca_cert)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(endpoint + "/", context=context, timeout=5).read()
            return
        except urllib.error.HTTPError:
            return  # an AWS-style error answer is an answer
        except OSError as exc:
            if time.monotonic() > deadline:
                raise BoxFailure(f"the box API at {endpoint} does not answer from the host: {exc}") from None
            time.sleep(0.2)


def env_lines(kind: CloudBoxKind, state: Path, layout: network.Layout, info: dict[str, Any], env_file: Path) -> list[str]:
    """The env file: the box's own lines, then what the server says points its cloud's SDKs here."""
    return [
        f"{ENV_MARKER} ({kind.name}), started {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
        f"# Makes plain rlcloud, the {kind.name} SDKs and ray talk to the box: `set -a; . THIS_FILE; set +a`.",
        f"# Stop it with: python -m tests.cloudbox stop --env-file {env_file}",
        f"RLCLOUD_CLOUDBOX={kind.name}",
        f"RLCLOUD_CLOUDBOX_STATE={state}",
        *(f"{key}={value}" for key, value in info["env"].items()),
        # `ssh_cidrs: auto` resolves to the address the box's VMs see this machine at.
        f"RLCLOUD_PUBLIC_IP={layout.host_ip}",
    ]


def start(cloud: str, env_file: Path, state: Path = DEFAULT_STATE_DIR, timeout_s: float = 120.0) -> list[str]:
    kind = CLOUDS.get(cloud)
    if kind is None:
        raise BoxError(f"unknown cloud {cloud!r}; the box has: {', '.join(sorted(CLOUDS))}")
    _check_writable(env_file)
    reason = unusable_reason()
    if reason:
        raise BoxError(reason)
    running = running_box()
    if running:
        raise BoxError(
            f"a cloud box ({running.get('cloud')}) is already running (env file {running.get('env_file')}); "
            f"stop it first: python -m tests.cloudbox stop --env-file {running.get('env_file')}"
        )
    layout = network.Layout.for_cidr(kind.cidr)
    leftovers = network.destroy()  # what a killed box left behind
    shutil.rmtree(state, ignore_errors=True)
    overlapping = network.overlapping_routes(kind.cidr)
    if overlapping:
        raise BoxError(f"this machine already routes {kind.cidr} ({overlapping[0]}); the {cloud} box needs that range")
    state.mkdir(parents=True, mode=0o700)
    try:
        network.create(layout)
        with (state / "server.log").open("ab") as log:
            server = subprocess.Popen(
                [
                    "nsenter",
                    f"--net=/run/netns/{network.CORE_NS}",
                    "--",
                    sys.executable,
                    "-m",
                    kind.server_module,
                    "--state-dir",
                    str(state),
                    "--cidr",
                    kind.cidr,
                    "--region",
                    kind.region,
                ],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                # The server's own environment, not the caller's (no stray cloud settings).
                env={
                    "PATH": os.environ.get("PATH", SYSTEM_PATH),
                    "HOME": "/root",
                    "LANG": "C.UTF-8",
                    "PYTHONPATH": str(REPO),
                    "PYTHONUNBUFFERED": "1",
                },
            )
        info = _wait_for_server(state, server, timeout_s)
        _api_answers(info["endpoint"], info["ca_cert"])
    except BaseException:
        network.destroy()
        raise
    REGISTRY.write_text(json.dumps({"cloud": cloud, "env_file": str(env_file.resolve()), "state_dir": str(state), "server_pid": info["pid"]}))
    env_file.write_text("\n".join(env_lines(kind, state, layout, info, env_file)) + "\n")
    env_file.chmod(0o600)  # it holds the admin's keys
    notes = [f"removed what a killed box left: {', '.join(leftovers)}"] if leftovers else []
    return notes + [f"cloud box ({cloud}) is ready: API {info['endpoint']}, VMs on {kind.cidr}; env file {env_file}"]


def _state_of(env_file: Path) -> tuple[Path | None, dict[str, str]]:
    values = read_env_file(env_file) if env_file.exists() else {}
    state = values.get("RLCLOUD_CLOUDBOX_STATE")
    if state is None:
        running = _registry()
        if running and Path(running.get("env_file", "")) == env_file.resolve():
            state = running.get("state_dir")
    return (Path(state) if state else None), values


def vms(env_file: Path) -> list[dict[str, Any]]:
    state, values = _state_of(env_file)
    if state is None or not values:
        raise BoxError(f"{env_file} is not the env file of a running cloud box")
    try:
        result: list[dict[str, Any]] = control.call(state / control.SOCKET_NAME, "vms")
    except control.ControlError as exc:
        raise BoxFailure(str(exc)) from None
    return result


def stop(env_file: Path) -> list[str]:
    state, values = _state_of(env_file)
    running = _registry()
    if state is None and not network.namespaces() and running is None:
        raise BoxError(f"no cloud box to stop: {env_file} is not a box's env file and none is running")
    notes = []
    if state is not None and (state / control.SOCKET_NAME).exists():
        try:
            control.call(state / control.SOCKET_NAME, "shutdown", timeout_s=10)
        except control.ControlError as exc:
            notes.append(f"the box server did not answer ({exc}); killing it")
    pid = (running or {}).get("server_pid")
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    removed = network.destroy()
    if state is not None and state.exists():
        shutil.rmtree(state, ignore_errors=True)
        removed.append(f"state {state}")
    REGISTRY.unlink(missing_ok=True)
    if env_file.exists() and env_file.read_text().startswith(ENV_MARKER):
        env_file.unlink()
        removed.append(f"env file {env_file}")
    return notes + [f"cloud box stopped; removed {', '.join(removed) or 'nothing (it was not running)'}"]
