"""The whole AWS path in the cloud box (tests/cloudbox), ours against plain Ray, in one box:

- `rlcloud up` of examples/cloudbox/aws.yaml until its min nodes are ready in Ray, against
  `ray up` of the same cluster as Ray's own AWS bootstrap would make it: our rendered config
  without what rlcloud provisions (instance profiles, security group, key pair, placement
  group, EFA interfaces: Ray's bootstrap cannot make the last two), so Ray creates its IAM
  role and security group itself. Ray's side is timed until its min workers are up-to-date
  (Ray's tag for "setup done, ray start ran"), a point no later than the one `rlcloud up`
  waits for (the nodes registered in Ray), so the ratio favours Ray if anything.
- `rlcloud down` against `ray down`, and what each leaves in the account (an inventory diff
  that does not know either tool's names).

Needs root and the box's tools (`make test` installs them); otherwise it reports why it
skipped. Each side runs once: a cluster takes about a minute and the VMs share this
machine's cores, so repeats would mostly measure each other.

    python benchmarks/bench_cloudbox.py
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest.mock import patch

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import RESULTS_DIR, save  # noqa: E402  (after the sys.path line above)

SPEC = ROOT / "examples" / "cloudbox" / "aws.yaml"
TIMEOUT_S = 600.0


def plain_ray_config(config: dict[str, Any], name: str, token_file: Path) -> dict[str, Any]:
    """Our rendered cluster, minus everything rlcloud provisions for it."""
    plain = copy.deepcopy(config)
    plain["cluster_name"] = name
    plain["auth"].pop("ssh_private_key", None)  # Ray makes and uses its own key pair
    plain["file_mounts"] = {remote: str(token_file) for remote in plain["file_mounts"]}
    for node_type in plain["available_node_types"].values():
        node = node_type["node_config"]
        for key in ("IamInstanceProfile", "KeyName", "Placement", "TagSpecifications", "SecurityGroupIds"):
            node.pop(key, None)
        interfaces = node.pop("NetworkInterfaces", None)
        if interfaces:
            node["SubnetIds"] = [interfaces[0]["SubnetId"]]
    return plain


def _ready_workers(ec2: Any, cluster: str) -> int:
    reservations = ec2.describe_instances(
        Filters=[
            {"Name": "tag:ray-cluster-name", "Values": [cluster]},
            {"Name": "tag:ray-node-type", "Values": ["worker"]},
            {"Name": "tag:ray-node-status", "Values": ["up-to-date"]},
            {"Name": "instance-state-name", "Values": ["running"]},
        ]
    )["Reservations"]
    return sum(len(r["Instances"]) for r in reservations)


def _ours(b: Any) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """`rlcloud up` and `down`; also what Ray's side needs: the rendered config and token."""
    from tests.aws.leftovers import inventory

    before = inventory(b)
    start = time.perf_counter()
    up = b.rlcloud("up", str(SPEC), "--yes", timeout_s=TIMEOUT_S)
    up_s = time.perf_counter() - start
    if up.code != 0:
        raise RuntimeError(f"rlcloud up failed: {up.err[-2000:]}")
    with patch.dict(os.environ, {"RLCLOUD_HOME": str(b.home)}):
        from provisioner import naming

        config = yaml.safe_load(naming.ray_config_path("rl-box").read_text())
        token = naming.state_dir("rl-box") / "auth_token"
        kept_token = b.home.parent / "baseline-token"
        shutil.copy(token, kept_token)
    ready = _ready_workers(b.client("ec2"), "rl-box")
    start = time.perf_counter()
    down = b.rlcloud("down", str(SPEC), "--yes", timeout_s=TIMEOUT_S)
    down_s = time.perf_counter() - start
    if down.code != 0:
        raise RuntimeError(f"rlcloud down failed: {down.err[-2000:]}")
    left = sorted(inventory(b) - before)
    result = {
        "up_s": round(up_s, 1),
        "workers_ready_at_return": ready,
        "down_s": round(down_s, 1),
        "leftovers": left,
        "note": "the checkpoint bucket is kept on purpose (`down --purge-storage` removes it)",
    }
    return result, config, kept_token


def _ray(b: Any, config: dict[str, Any], token: Path, min_workers: int, folder: Path) -> dict[str, Any]:
    from provisioner.cluster.ray_launcher import ray_down, ray_up
    from provisioner.progress import Progress
    from tests.aws.leftovers import inventory

    name = "rl-box-ray"
    config_path = folder / "ray-plain.yaml"
    config_path.write_text(yaml.safe_dump(plain_ray_config(config, name, token), sort_keys=False))
    home = folder / "ray-home"  # Ray writes the key pair it makes under ~/.ssh
    (home / ".ssh").mkdir(parents=True)
    ec2 = b.client("ec2")
    before = inventory(b)
    quiet = Progress(write=lambda _line: None)
    with patch.dict(os.environ, {**b.env(), "HOME": str(home)}):
        start = time.perf_counter()
        ray_up(config_path, restart=True, state_dir=folder, progress=quiet, timeout_s=TIMEOUT_S)
        b.wait_for("Ray's min workers", lambda: _ready_workers(ec2, name) >= min_workers, TIMEOUT_S, poll_s=0.5)
        up_s = time.perf_counter() - start
        start = time.perf_counter()
        finished, _run = ray_down(config_path, state_dir=folder, progress=quiet, timeout_s=TIMEOUT_S)
        down_s = time.perf_counter() - start
    # Workers the head launched after `ray down` asked for the node list would be orphans;
    # give the account a moment to show them before taking stock.
    time.sleep(2)
    return {
        "up_s": round(up_s, 1),
        "down_s": round(down_s, 1),
        "down_finished": finished,
        "leftovers": sorted(inventory(b) - before),
    }


def _collect_vm_logs(state: Path, into: Path) -> None:
    """Each VM's Ray logs (its /tmp is a folder of the box's state), before `stop` removes them."""
    for logs in (state / "vms").glob("*/tmp/ray/session_2*/logs"):
        shutil.copytree(logs, into / logs.parents[3].name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.pb", "events"))
    print(f"cloudbox: the VMs' Ray logs are in {into}")


def main() -> dict[str, Any]:
    from tests.cloudbox import box
    from tests.cloudbox.conftest import Box

    reason = box.unusable_reason() or ("a cloud box is already running on this machine" if box.running_box() else None)
    if reason:
        print(f"cloudbox: skipped: {reason}")
        return {"skipped": reason}
    # Kept after the run: both tools' logs, the configs, and on failure the VMs' Ray logs.
    folder = RESULTS_DIR / "cloudbox-run"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env_file = folder / "box.env"
    cloudbox = [sys.executable, "-m", "tests.cloudbox"]
    subprocess.run([*cloudbox, "start", "aws", "--env-file", str(env_file)], cwd=ROOT, check=True, timeout=300)
    b = Box(env_file=env_file, state=Path(box.read_env_file(env_file)["RLCLOUD_CLOUDBOX_STATE"]), home=folder / "rlcloud-home")
    try:
        min_workers = sum(g.get("min_nodes", 0) for g in yaml.safe_load(SPEC.read_text())["node_groups"].values())
        ours, config, token = _ours(b)
        ray = _ray(b, config, token, min_workers, folder)
    except BaseException:
        _collect_vm_logs(b.state, folder / "vm-logs")
        raise
    finally:
        subprocess.run([*cloudbox, "stop", "--env-file", str(env_file)], cwd=ROOT, check=False, timeout=300)
    result = {
        "rlcloud": ours,
        "ray": ray,
        "up_ratio": round(ours["up_s"] / ray["up_s"], 2),
        "down_ratio": round(ours["down_s"] / ray["down_s"], 2),
        "how": "one box, one run each; Ray's cluster is ours without the profiles, security group, key pair, placement group and EFA that rlcloud provisions",
    }
    print("AWS in the cloud box (examples/cloudbox/aws.yaml: head + 1 learner ready)")
    print(
        f"  up:   rlcloud {ours['up_s']:.1f}s (incl. IAM, SG, key, placement group, bucket) vs ray up {ray['up_s']:.1f}s  ratio {result['up_ratio']}"
    )
    print(f"  down: rlcloud {ours['down_s']:.1f}s vs ray down {ray['down_s']:.1f}s  ratio {result['down_ratio']}")
    print(f"  left after rlcloud down: {ours['leftovers'] or 'nothing'}")
    print(f"  left after ray down:     {ray['leftovers'] or 'nothing'}")
    save("cloudbox", result)
    return result


if __name__ == "__main__":
    main()
