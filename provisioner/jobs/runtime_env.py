"""The runtime_env a submitted job gets: working dir (minus junk), rlcloud's env vars, and
the `runtime` and `rlcloud_contract` packages when the working dir does not already contain
them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlcloud_contract.env import CHECKPOINT_URI_ENV, CLUSTER_ENV

#: What a job needs importable on the cluster, where rlcloud is not installed: the runtime,
#: and the contract it shares with the provisioner (the runtime imports nothing else of ours).
SHIPPED_PACKAGES = ("runtime", "rlcloud_contract")

# Never worth uploading; Ray additionally honours .gitignore / .rayignore in the working dir.
DEFAULT_EXCLUDES = [
    ".git",
    ".venv",
    "venv",
    "**/__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".hypothesis",
    ".bench",
    "node_modules",
    "*.egg-info",
]


def package_dir(name: str) -> Path:
    """Where package `name` lives, found without importing it (`runtime` imports torch)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the rlcloud `{name}` package is not installed")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def build_runtime_env(
    working_dir: Path,
    env: dict[str, str],
    excludes: list[str],
    checkpoint_uri: str | None,
    cluster_name: str | None,
    same_filesystem: bool = False,
) -> dict[str, Any]:
    """`same_filesystem`: the cluster's nodes see this machine's files (the local cluster).
    Then the job runs in the directory itself (`local://`), with no upload: the simulated
    nodes share one session directory, and each would otherwise unpack the package into the
    same folder, replacing files under processes that are running from it. The `runtime`
    package is importable there already (the cluster runs this environment's Python)."""
    env_vars: dict[str, str] = {}
    if cluster_name:
        env_vars[CLUSTER_ENV] = cluster_name
    if checkpoint_uri:
        env_vars[CHECKPOINT_URI_ENV] = checkpoint_uri
    env_vars.update(env)  # the user's --env wins
    if same_filesystem:
        return {"working_dir": f"local://{working_dir}", "env_vars": env_vars}
    runtime_env: dict[str, Any] = {
        "working_dir": str(working_dir),
        "excludes": DEFAULT_EXCLUDES + list(excludes),
        "env_vars": env_vars,
    }
    # Jobs written outside this repo still `import runtime` on the cluster.
    missing = [name for name in SHIPPED_PACKAGES if not (working_dir / name / "__init__.py").exists()]
    if missing:
        runtime_env["py_modules"] = [str(package_dir(name)) for name in missing]
    return runtime_env
