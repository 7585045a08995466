"""The driver registry: every target's facts in one registered driver, and a new target is
one new module under provisioner/drivers/ (proven by adding one and using it end to end)."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import provisioner.drivers as drivers
from provisioner import lazy
from provisioner.errors import MissingDependencyError, SpecError
from provisioner.spec import load_spec_text

DRIVERS_DIR = Path(drivers.__file__).parent


def test_the_four_targets_are_registered_in_order() -> None:
    assert drivers.names() == ["aws", "gcp", "azure", "local"]


@pytest.mark.parametrize("name", ["aws", "gcp", "azure", "local"])
def test_each_driver_names_what_exists(name: str) -> None:
    driver = drivers.driver_for(name)
    # The spec class is the union branch for this `cloud`.
    assert driver.spec_class.model_fields["cloud"].annotation.__args__ == (name,)  # type: ignore[union-attr]
    assert callable(lazy.load(driver.compiler))
    assert callable(lazy.load(driver.backend))
    if driver.provisioner is not None:
        assert callable(lazy.load(driver.provisioner))
    assert driver.native_scheme in driver.checkpoint_schemes
    if driver.catalog:
        assert driver.default_head_type and driver.placement_word and driver.fast_networking_label is not None


def test_an_unknown_cloud_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="expected one of: aws, gcp, azure, local"):
        drivers.driver_for("openstack")
    with pytest.raises(SpecError, match="unknown cloud 'openstack'; expected one of: aws, gcp, azure, local"):
        load_spec_text("name: c1\ncloud: openstack\n")


def test_a_missing_sdk_names_the_package_and_the_extra() -> None:
    with pytest.raises(MissingDependencyError) as exc:
        lazy.require({"json": "stdlib", "rlcloud_no_such_module.sub": "no-such-package"}, "toy")
    assert str(exc.value) == "no-such-package is not installed\n  hint: pip install 'rlcloud[toy]'"


FIFTH = '''
"""A toy fifth target, written by tests/spec/test_drivers.py and removed after it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from provisioner.drivers import Driver
from provisioner.spec.models import ClusterSpecBase, LocalHeadSpec


class ToySpec(ClusterSpecBase):
    """A cluster on the toy target."""

    cloud: Annotated[Literal["toy"], Field(description="toy")]
    head: Annotated[LocalHeadSpec, Field(description="The head.")] = LocalHeadSpec()
    node_groups: Annotated[dict[str, Any], Field(description="None here.")] = {}


class ToyRefs(BaseModel):
    pass


def compile_toy(spec: ToySpec, ctx: Any, refs: Any) -> dict[str, Any]:
    return {"cluster_name": spec.name, "provider": {"type": "toy"}}


DRIVER = Driver(
    name="toy",
    label="Toy",
    position=9,
    spec_class=ToySpec,
    refs=ToyRefs,
    compiler="provisioner.drivers.zz_toy_target:compile_toy",
    provisioner=None,
    backend="provisioner.backends.local:LocalBackend",
    checkpoint_schemes=("s3",),
)
'''


@pytest.fixture()
def fifth_target() -> Iterator[None]:
    path = DRIVERS_DIR / "zz_toy_target.py"
    path.write_text(textwrap.dedent(FIFTH))
    importlib.invalidate_caches()
    drivers._registry.cache_clear()
    drivers.spec_adapter.cache_clear()
    try:
        yield
    finally:
        path.unlink()
        sys.modules.pop("provisioner.drivers.zz_toy_target", None)
        drivers._registry.cache_clear()
        drivers.spec_adapter.cache_clear()


def test_a_fifth_target_is_one_new_module(fifth_target: None) -> None:
    assert drivers.names() == ["aws", "gcp", "azure", "local", "toy"]
    spec = load_spec_text("name: c1\ncloud: toy\nstorage:\n  checkpoint_uri: s3://my-bucket/ckpt\n")
    assert type(spec).__name__ == "ToySpec"
    assert drivers.compile_cluster(spec) == {"cluster_name": "c1", "provider": {"type": "toy"}}
    # The spec's schema gains its branch; its checkpoint schemes are what the checks allow.
    assert "ToySpec" in str(drivers.spec_adapter().json_schema())
    with pytest.raises(SpecError, match=r"file:// is only for the local cluster; nodes on toy need s3://"):
        load_spec_text("name: c1\ncloud: toy\nstorage:\n  checkpoint_uri: file:///tmp/x\n")
