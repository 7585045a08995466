"""What the catalog knows about one instance / machine / VM type, and lookups over a cloud's set."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal

Cloud = Literal["aws", "gcp", "azure"]

# Spellings people use for the same GPU. Keys are upper-cased user input, values are
# the catalog's canonical model names (A100 means the 40 GB part, as AWS and GCP name it).
GPU_ALIASES: dict[str, str] = {
    "A100-40GB": "A100",
    "A100-40G": "A100",
    "A100-80G": "A100-80GB",
    "H100-80GB": "H100",
    "H100-80G": "H100",
    "H200-141GB": "H200",
    "TESLA-T4": "T4",
    "A10": "A10G",
}


def canonical_gpu(name: str) -> str:
    upper = name.upper()
    return GPU_ALIASES.get(upper, upper)


@dataclass(frozen=True)
class InstanceType:
    """One instance type and the facts rlcloud needs to place, network and price it."""

    cloud: Cloud
    name: str
    vcpus: int
    memory_gb: float
    gpu_model: str | None = None  # canonical name, e.g. "H100"; None for CPU-only types
    gpu_count: int = 0
    gpu_memory_gb: float = 0.0  # per GPU
    price_per_hour: float | None = None  # approximate on-demand USD; None when unknown
    # AWS
    efa_supported: bool = False
    max_network_cards: int = 1
    max_efa_interfaces: int = 0
    ena_support: Literal["required", "supported", "unsupported"] = "required"
    zones: tuple[str, ...] = ()  # zones that offer the type, where the snapshot knows them
    # GCP
    gce_accelerator_type: str | None = None  # e.g. "nvidia-tesla-a100"
    gvnic_required: bool = False
    # Azure
    accelerated_networking: bool = False

    @property
    def has_gpu(self) -> bool:
        return self.gpu_count > 0

    def describe(self) -> str:
        gpu = f", {self.gpu_count}x {self.gpu_model}" if self.gpu_count else ""
        return f"{self.name} ({self.vcpus} vCPU, {self.memory_gb:g} GB{gpu})"


@dataclass
class Catalog:
    """All known types of one cloud plus its regions and their zones."""

    cloud: Cloud
    types: dict[str, InstanceType]
    regions: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def get(self, name: str) -> InstanceType | None:
        return self.types.get(name)

    def suggest(self, name: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(name, list(self.types), n=n, cutoff=0.6)

    def gpu_models(self) -> list[str]:
        return sorted({t.gpu_model for t in self.types.values() if t.gpu_model})

    def candidates(self, gpu_model: str, count: int) -> list[InstanceType]:
        """Types with exactly `count` GPUs of `gpu_model`, cheapest first (unpriced last)."""
        model = canonical_gpu(gpu_model)
        found = [t for t in self.types.values() if t.gpu_model == model and t.gpu_count == count]
        return sorted(found, key=lambda t: (t.price_per_hour is None, t.price_per_hour or 0.0, t.vcpus, t.name))

    def resolve_accelerator(self, gpu_model: str, count: int) -> InstanceType:
        """The cheapest type carrying `count` x `gpu_model`; LookupError says what exists."""
        found = self.candidates(gpu_model, count)
        if found:
            return found[0]
        model = canonical_gpu(gpu_model)
        counts = sorted({t.gpu_count for t in self.types.values() if t.gpu_model == model})
        if counts:
            raise LookupError(f"no {self.cloud} type has {count}x {model}; {model} comes in counts {counts}")
        raise LookupError(f"{self.cloud} has no {model} GPUs in the catalog; known GPU models: {', '.join(self.gpu_models())}")
