"""Turn EC2 DescribeInstanceTypes answers into catalog entries.

Used two ways: by scripts/refresh_aws_catalog.py to regenerate the bundled snapshot, and by
the AWS provisioner at `up` time to check EFA and ENA facts against the live account rather
than trusting a snapshot. Takes an already-built boto3 EC2 client, so it imports no SDK.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provisioner.catalog.model import canonical_gpu


def entry_from_description(desc: dict[str, Any]) -> dict[str, Any]:
    """One DescribeInstanceTypes item -> the JSON entry stored in data/aws.json."""
    gpus = (desc.get("GpuInfo") or {}).get("Gpus") or []
    gpu_model = None
    gpu_count = 0
    gpu_mem = 0.0
    if gpus:
        gpu = gpus[0]
        gpu_count = int(gpu.get("Count", 0))
        gpu_mem = round(gpu.get("MemoryInfo", {}).get("SizeInMiB", 0) / 1024, 1)
        gpu_model = canonical_gpu(gpu.get("Name", ""))
        # AWS names both A100 parts "A100"; the memory size tells them apart.
        if gpu_model == "A100" and gpu_mem >= 70:
            gpu_model = "A100-80GB"
    net = desc.get("NetworkInfo") or {}
    return {
        "name": desc["InstanceType"],
        "vcpus": int(desc["VCpuInfo"]["DefaultVCpus"]),
        "memory_gb": round(desc["MemoryInfo"]["SizeInMiB"] / 1024, 1),
        "gpu_model": gpu_model,
        "gpu_count": gpu_count,
        "gpu_memory_gb": gpu_mem,
        "efa_supported": bool(net.get("EfaSupported", False)),
        "max_network_cards": int(net.get("MaximumNetworkCards", 1)),
        "max_efa_interfaces": int((net.get("EfaInfo") or {}).get("MaximumEfaInterfaces", 0)),
        "ena_support": net.get("EnaSupport", "unsupported"),
    }


def fetch_instance_types(ec2: Any, names: Iterable[str]) -> list[dict[str, Any]]:
    """DescribeInstanceTypes for `names` (batched: the API takes at most 100 per call)."""
    names = list(names)
    out: list[dict[str, Any]] = []
    for start in range(0, len(names), 100):
        batch = names[start : start + 100]
        paginator = ec2.get_paginator("describe_instance_types")
        for page in paginator.paginate(InstanceTypes=batch):
            out.extend(entry_from_description(d) for d in page["InstanceTypes"])
    return out


def fetch_region_zones(ec2: Any, names: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The region's zone names, and for each of `names` the zones that offer it."""
    zones = sorted(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"])
    wanted = set(names)
    offered: dict[str, list[str]] = {}
    paginator = ec2.get_paginator("describe_instance_type_offerings")
    for page in paginator.paginate(LocationType="availability-zone"):
        for offer in page["InstanceTypeOfferings"]:
            if offer["InstanceType"] in wanted:
                offered.setdefault(offer["InstanceType"], []).append(offer["Location"])
    return zones, offered
