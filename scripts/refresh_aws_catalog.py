"""Regenerate provisioner/catalog/data/aws.json from EC2's DescribeInstanceTypes.

By default it runs against moto (which serves AWS's own instance data), so it works
offline; `--live` reads a real account instead (needs credentials). Prices are not in the
EC2 API: they come from data/prices.json, which is maintained by hand.

    python scripts/refresh_aws_catalog.py [--live] [--regions us-east-1,us-west-2,...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provisioner.catalog.aws_ec2 import fetch_instance_types, fetch_region_zones  # noqa: E402

# The families RL teams use (GPU) plus a few CPU types for heads.
FAMILIES = ("p4d.", "p4de.", "p5.", "p5e.", "p5en.", "p6-b200.", "g5.", "g6.", "g6e.")
CPU_TYPES = (
    "m6i.large",
    "m6i.xlarge",
    "m6i.2xlarge",
    "m6i.4xlarge",
    "m6i.8xlarge",
    "m7i.2xlarge",
    "m7i.4xlarge",
    "c6i.4xlarge",
    "c6i.8xlarge",
    "r6i.2xlarge",
)
DEFAULT_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-central-1",
    "eu-north-1",
    "ap-northeast-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-south-1",
    "sa-east-1",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--live", action="store_true", help="read a real AWS account instead of moto")
    parser.add_argument("--regions", default=",".join(DEFAULT_REGIONS))
    args = parser.parse_args()

    import boto3

    def run() -> dict:
        regions = args.regions.split(",")
        session = boto3.Session(region_name=regions[0])
        ec2 = session.client("ec2")
        names = [t for t in fetch_all_names(ec2) if t.startswith(FAMILIES) or t in CPU_TYPES]
        types = fetch_instance_types(ec2, names)
        zones = {}
        offered: dict[str, set[str]] = {n: set() for n in names}
        for region in regions:
            client = session.client("ec2", region_name=region)
            region_zones, offerings = fetch_region_zones(client, names)
            zones[region] = region_zones
            for name, zs in offerings.items():
                offered[name].update(zs)
        for entry in types:
            entry["zones"] = sorted(offered.get(entry["name"], ()))
        return {"regions": zones, "types": sorted(types, key=lambda e: e["name"])}

    if args.live:
        data = run()
    else:
        import os

        from moto import mock_aws

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        with mock_aws():
            data = run()
    out = ROOT / "provisioner" / "catalog" / "data" / "aws.json"
    out.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}: {len(data['types'])} types, {len(data['regions'])} regions")


def fetch_all_names(ec2) -> list[str]:
    names: list[str] = []
    for page in ec2.get_paginator("describe_instance_types").paginate():
        names.extend(t["InstanceType"] for t in page["InstanceTypes"])
    return names


if __name__ == "__main__":
    main()
