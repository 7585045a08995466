"""A Ray job that reports what the cluster's identities may do, for the cloud-box tests.

On the head (the job's driver) and in a task pinned to a worker node, it tries an EC2 read
and S3 writes inside and outside the checkpoint prefix with plain boto3 clients, which take
the node's instance role from the metadata service as on EC2. Prints one JSON line per node.

    rlcloud submit SPEC -- python tests/cloudbox/probes/least_privilege.py
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any


def attempts() -> dict[str, Any]:
    import boto3
    import botocore.exceptions

    uri = os.environ["RLCLOUD_CHECKPOINT_URI"]
    bucket, _, prefix = uri.split("://", 1)[1].partition("/")
    found: dict[str, Any] = {"host": socket.gethostname(), "identity": boto3.client("sts").get_caller_identity()["Arn"]}

    def attempt(name: str, call: Any) -> None:
        try:
            call()
            found[name] = "allowed"
        except botocore.exceptions.ClientError as exc:
            found[name] = exc.response["Error"]["Code"]

    ec2, s3 = boto3.client("ec2"), boto3.client("s3")
    attempt("ec2_describe_instances", lambda: ec2.describe_instances())
    attempt("ec2_terminate", lambda: ec2.terminate_instances(InstanceIds=["i-0123456789abcdef0"]))
    key = f"{prefix}/probe/{found['host']}.txt"
    attempt("s3_put_inside_prefix", lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"probe"))
    attempt("s3_delete_inside_prefix", lambda: s3.delete_object(Bucket=bucket, Key=key))
    attempt("s3_put_outside_prefix", lambda: s3.put_object(Bucket=bucket, Key=f"elsewhere/{found['host']}.txt", Body=b"probe"))
    attempt("s3_list_buckets", lambda: s3.list_buckets())
    return found


def main() -> None:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray.init()
    head = {"where": "head (driver)", **attempts()}
    worker_nodes = [n for n in ray.nodes() if n["Alive"] and "node:__internal_head__" not in n["Resources"]]
    print(json.dumps(head))
    for node in worker_nodes:
        strategy = NodeAffinitySchedulingStrategy(node_id=node["NodeID"], soft=False)
        on_worker = ray.get(ray.remote(attempts).options(num_cpus=0, scheduling_strategy=strategy).remote())
        print(json.dumps({"where": f"worker {node['NodeManagerAddress']}", **on_worker}))


if __name__ == "__main__":
    main()
