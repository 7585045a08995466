"""The instance catalog: per cloud, type -> vCPUs, memory, GPUs, network features, $/h.

Data lives in `data/*.json`: AWS is generated from EC2 DescribeInstanceTypes
(scripts/refresh_aws_catalog.py), GCP and Azure are tables kept by hand from the clouds'
docs, and prices.json holds approximate on-demand prices for estimates.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from provisioner.catalog.model import Catalog, Cloud, InstanceType, canonical_gpu

__all__ = ["Catalog", "Cloud", "InstanceType", "canonical_gpu", "get_catalog", "spot_discount"]


def _read(name: str) -> Any:
    return json.loads(resources.files("provisioner.catalog").joinpath("data", name).read_text())


@cache
def _prices() -> dict[str, Any]:
    prices: dict[str, Any] = _read("prices.json")
    return prices


def spot_discount(cloud: Cloud) -> float:
    """Fraction of the on-demand price a spot node is assumed to cost in estimates."""
    return float(_prices()["spot_discount"][cloud])


@cache
def get_catalog(cloud: Cloud) -> Catalog:
    """The bundled catalog of `cloud` (cached; the data files are read once)."""
    data = _read(f"{cloud}.json")
    prices = _prices()[cloud]
    types: dict[str, InstanceType] = {}
    for entry in data["types"]:
        fields = dict(entry)
        fields["zones"] = tuple(fields.get("zones", ()))
        types[entry["name"]] = InstanceType(cloud=cloud, price_per_hour=prices.get(entry["name"]), **fields)
    regions = {region: tuple(zones) for region, zones in data["regions"].items()}
    return Catalog(cloud=cloud, types=types, regions=regions)
