"""`rlcloud up` (to ready: head up, every group at min_nodes) vs a bare `ray start --head
--autoscaling-config=...` with the same config, ports and env, waited on by the same
readiness check. Interleaved runs, medians. Target (issue 3): our overhead under 20%.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import save  # noqa: E402

SPEC = ROOT / "examples" / "local.yaml"
TARGET_OVERHEAD = 0.20


def _ours(home: Path) -> float:
    env = {**os.environ, "RLCLOUD_HOME": str(home)}
    rlcloud = str(Path(sys.executable).with_name("rlcloud"))
    start = time.perf_counter()
    subprocess.run([rlcloud, "up", str(SPEC)], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    subprocess.run([rlcloud, "down", str(SPEC)], env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return elapsed


def _bare(home: Path) -> float:
    """What `rlcloud up` automates, by hand: the same argv/env/config, polled to the same readiness."""
    os.environ["RLCLOUD_HOME"] = str(home)
    import yaml

    from provisioner import naming
    from provisioner.auth import bearer_headers, ensure_token
    from provisioner.cluster.dashboard import DashboardEndpoint
    from provisioner.cluster.readiness import wait_until_ready
    from provisioner.compile import CompileContext
    from provisioner.drivers import compile_cluster
    from provisioner.local.head import allocate_runtime, head_launch
    from provisioner.local.processes import stop_cluster_processes
    from provisioner.progress import Progress
    from provisioner.refs import LocalRefs
    from provisioner.spec import load_spec
    from provisioner.spec.resolve import resolve_nodes

    spec = load_spec(SPEC)
    state_dir = naming.state_dir(spec.name)
    state_dir.mkdir(parents=True, exist_ok=True)
    ctx = CompileContext.for_cluster(spec.name)
    token = ensure_token(ctx.token_file)
    runtime = allocate_runtime(state_dir)
    config_path = state_dir / "bare.yaml"
    config_path.write_text(yaml.safe_dump(compile_cluster(spec, ctx, LocalRefs(gcs_port=runtime.gcs_port, dashboard_port=runtime.dashboard_port))))
    nodes = resolve_nodes(spec)
    launch = head_launch(nodes[0], runtime, config_path, ctx.token_file)
    endpoint = DashboardEndpoint(f"http://127.0.0.1:{runtime.dashboard_port}", bearer_headers(token))
    start = time.perf_counter()
    subprocess.run(launch.argv, env=launch.env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_ready(endpoint, spec.name, "local", nodes, Progress.silent(), timeout_s=300)
    elapsed = time.perf_counter() - start
    stop_cluster_processes(runtime.temp_dir, runtime.gcs_port)
    return elapsed


def main(repeats: int = 3) -> dict:
    ours, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            bare.append(_bare(Path(tmp) / f"bare-{i}"))
            ours.append(_ours(Path(tmp) / f"ours-{i}"))
    m_ours, m_bare = statistics.median(ours), statistics.median(bare)
    overhead = m_ours / m_bare - 1
    result = {
        "rlcloud_up_s": round(m_ours, 2),
        "bare_ray_start_s": round(m_bare, 2),
        "overhead": round(overhead, 3),
        "target_overhead_max": TARGET_OVERHEAD,
        "met": overhead <= TARGET_OVERHEAD,
        "samples_ours": [round(x, 2) for x in ours],
        "samples_bare": [round(x, 2) for x in bare],
    }
    print(f"local up: rlcloud up {m_ours:.2f}s vs bare ray start {m_bare:.2f}s -> overhead {overhead:+.1%} (target < {TARGET_OVERHEAD:.0%})")
    save("local_up", result)
    return result


if __name__ == "__main__":
    main()
