"""Ask the cluster for one placement group: a learner bundle and N sampler bundles, and print
where each bundle landed. On an autoscaling cluster the sampler bundles make the autoscaler
add sampler nodes. Used by the local-cluster tests.

    python examples/placement_probe.py --samplers 2 [--learner-gpus 2] [--timeout 120]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samplers", type=int, default=2)
    parser.add_argument("--learner-gpus", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    import ray
    from ray.util.placement_group import placement_group, placement_group_table, remove_placement_group

    ray.init()
    bundles = [{"CPU": 1, "GPU": args.learner_gpus}] + [{"CPU": 1, "GPU": 1}] * args.samplers
    start = time.monotonic()
    pg = placement_group(bundles, strategy="SPREAD")
    if not pg.wait(timeout_seconds=args.timeout):
        print(f"placement group not ready after {args.timeout:.0f}s; asked for {bundles}", file=sys.stderr)
        return 1
    waited = time.monotonic() - start
    node_types = {n["NodeID"]: n.get("Labels", {}).get("ray.io/node-type-name") or n["NodeManagerAddress"] for n in ray.nodes()}
    placement = placement_group_table(pg)["bundles_to_node_id"]
    landed = []
    for index, bundle in enumerate(bundles):
        role = "learner" if index == 0 else f"sampler-{index - 1}"
        node_id = placement[index]
        landed.append({"bundle": index, "role": role, "resources": bundle, "node_id": node_id, "node": node_types.get(node_id)})
        print(f"bundle {index} ({role}, {bundle}) -> node {node_id[:12]}")
    print(json.dumps({"waited_s": round(waited, 1), "bundles": landed}))
    remove_placement_group(pg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
