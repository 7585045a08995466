"""The runtime_env a submitted job gets: working dir (minus junk), rlcloud's env vars, and
the `runtime` package when the working dir does not already contain it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def runtime_package_dir() -> Path:
    """Where the `runtime` package lives, found without importing it (it imports torch)."""
    import importlib.util

    spec = importlib.util.find_spec("runtime")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the rlcloud `runtime` package is not installed")
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
        env_vars["RLCLOUD_CLUSTER"] = cluster_name
    if checkpoint_uri:
        env_vars["RLCLOUD_CHECKPOINT_URI"] = checkpoint_uri
    env_vars.update(env)  # the user's --env wins
    if same_filesystem:
        return {"working_dir": f"local://{working_dir}", "env_vars": env_vars}
    runtime_env: dict[str, Any] = {
        "working_dir": str(working_dir),
        "excludes": DEFAULT_EXCLUDES + list(excludes),
        "env_vars": env_vars,
    }
    if not (working_dir / "runtime" / "__init__.py").exists():
        # Jobs written outside this repo still `import runtime` on the cluster.
        runtime_env["py_modules"] = [str(runtime_package_dir())]
    return runtime_env
