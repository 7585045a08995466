"""What the GCP tests share: running the verbs through the real CLI, reading plans, and an
inventory of everything in the fake project that belongs to a cluster (read from the fake's
state directly, so a resource rlcloud forgot to look for still shows)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from provisioner import naming
from tests.gcp.conftest import GcpProject
from tests.gcp.fake_gcp.world import SEED_PROJECT_BINDINGS, World
from tests.support.cli import CliResult, run_cli

PLAN_ACTIONS = {"create", "keep", "update", "delete", "use"}


def cluster_name(text: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("name:"))


def up(spec: Path, *extra: str) -> CliResult:
    result = run_cli("up", str(spec), "--yes", "--provision-only", *extra)
    assert result.code == 0, result.text
    return result


def down(spec: Path, *extra: str) -> CliResult:
    result = run_cli("down", str(spec), "--yes", *extra)
    assert result.code == 0, result.text
    return result


def plan_rows(spec: Path) -> list[tuple[str, str, str]]:
    """(action, kind, name) of every planned resource."""
    result = run_cli("plan", str(spec))
    assert result.code == 0, result.text
    rows = []
    for line in result.out.splitlines():
        parts = line.split(None, 2)
        if line.startswith("  ") and parts and parts[0] in PLAN_ACTIONS:
            rows.append((parts[0], parts[1], parts[2].split("  (")[0]))
    return rows


def rendered(cluster: str) -> dict[str, Any]:
    return yaml.safe_load((naming.state_dir(cluster) / "ray-cluster.yaml").read_text())


def accounts(cluster: str) -> dict[str, str]:
    """Emails of the accounts rlcloud makes for a cluster: the head's and the workers'."""
    return {
        "head": naming.gcp_head_service_account_email(cluster, "my-rl-project"),
        "worker": naming.gcp_worker_service_account_email(cluster, "my-rl-project"),
    }


def leftovers(world: World, cluster: str) -> list[str]:
    """Everything of `cluster` still in the project, except a bucket rlcloud keeps on purpose
    (checkpoint data) - but not the accounts' grants on it."""
    tag = naming.gcp_network_tag(cluster)
    marker = naming.gcp_managed_marker(cluster)
    emails = set(accounts(cluster).values())
    found = [
        f"firewall {n}" for (_, n), rule in world.firewalls.items() if tag in rule.get("targetTags", []) or marker in rule.get("description", "")
    ]
    found += [f"resource policy {n}" for (_, _, n), p in world.resource_policies.items() if marker in p.get("description", "")]
    found += [
        f"instance {n}"
        for (_, _, n), vm in world.instances.items()
        if cluster in (vm["labels"].get(naming.TAG_KEY), vm["labels"].get("ray-cluster-name"))
        or re.fullmatch(rf"ray-{re.escape(cluster)}-(head|worker)-[0-9a-f]{{8}}-compute", n)
    ]
    found += [f"service account {e}" for e, a in world.service_accounts.items() if e in emails or marker in a.get("description", "")]
    policies = {
        **{f"project {p}": policy for p, policy in world.project_policies.items()},
        **{f"service account {a}": policy for a, policy in world.account_policies.items()},
        **{f"bucket gs://{b}": policy for b, policy in world.bucket_policies.items()},
    }
    for where, policy in policies.items():
        found += [f"binding on {where}: {b['role']} {m}" for b in policy.get("bindings", []) for m in b["members"] if any(e in m for e in emails)]
    return found


def others_bindings_kept(gcp: GcpProject) -> bool:
    """Every seeded grant of another principal is still in the project policy."""
    policy = gcp.world.project_policy("my-rl-project")
    members = {(b["role"], m) for b in policy["bindings"] for m in b["members"]}
    return all((b["role"], m) in members for b in SEED_PROJECT_BINDINGS for m in b["members"])
