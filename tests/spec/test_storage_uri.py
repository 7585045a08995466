"""One definition of the checkpoint URI schemes (rlcloud_contract/storage_uri.py), read the same way
by the cluster spec, its cloud checks and the runtime's job config; every template's URI
loads in the runtime."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from provisioner.api.spec_ops import Template, templates
from provisioner.drivers import driver_for
from provisioner.errors import SpecError
from provisioner.spec import load_spec_text
from rlcloud_contract.storage_uri import SCHEMES, StorageLocation, parse_uri
from runtime.config import RayRuntimeConfig
from runtime.storage.base import BACKENDS
from tests.support.specs import AWS, AZURE, GCP, LOCAL

GOOD = {
    "s3://my-bucket.v2/team/a/": StorageLocation("s3", bucket="my-bucket.v2", prefix="team/a"),
    "gs://ckpt_bucket-1": StorageLocation("gs", bucket="ckpt_bucket-1"),
    "az://rlckpt01/checkpoints/runs": StorageLocation("az", bucket="checkpoints", prefix="runs", account="rlckpt01"),
    "file:///var/ckpt/": StorageLocation("file", path="/var/ckpt"),
}

BAD = {
    "s3://Bad_Bucket/x": "not a valid bucket name",
    "s3://ab/x": "not a valid bucket name",
    "gs://goog-ckpt/x": "not starting with 'goog'",
    "gs://" + "a" * 64: "not a valid bucket name",
    "az://rlckpt01": "az://ACCOUNT/CONTAINER[/PREFIX]",
    "az://RL-Ckpt/c1x/p": "not a valid storage account name (3-24 chars of a-z and 0-9)",
    "az://" + "a" * 25 + "/ckpt": "not a valid storage account name",
    "az://rlckpt01/bad--name": "not a valid container name",
    "az://rlckpt01/ab": "not a valid container name",
    "az://rlckpt01/ends-": "not a valid container name",
    "file://relative/path": "must be absolute",
    "ftp://x/y": "unsupported scheme ftp://; expected s3://BUCKET[/PREFIX], gs://BUCKET[/PREFIX], az://ACCOUNT/CONTAINER[/PREFIX] or file:///ABSOLUTE/PATH",
    "just-a-bucket": "expected s3://BUCKET[/PREFIX]",
}


@pytest.mark.parametrize("uri, location", GOOD.items())
def test_good_uris_parse_to_their_parts(uri: str, location: StorageLocation) -> None:
    assert parse_uri(uri) == location
    assert parse_uri(location.uri) == location  # the canonical form parses back to itself


@pytest.mark.parametrize("uri, message", BAD.items())
def test_bad_uris_say_what_was_expected_in_the_spec_and_the_runtime(uri: str, message: str) -> None:
    with pytest.raises(ValueError) as parse_error:
        parse_uri(uri)
    assert message in str(parse_error.value)
    with pytest.raises(SpecError) as spec_error:
        load_spec_text(LOCAL + f"storage:\n  checkpoint_uri: {uri}\n", "spec.yaml")
    assert [(i.path, message in i.message) for i in spec_error.value.issues] == [("storage.checkpoint_uri", True)]
    with pytest.raises(ValidationError) as runtime_error:
        RayRuntimeConfig(checkpoint_uri=uri)
    assert message in str(runtime_error.value)


def test_every_scheme_has_a_runtime_backend() -> None:
    assert set(BACKENDS) == set(SCHEMES)


def test_which_clouds_may_use_which_scheme() -> None:
    assert {cloud: list(driver_for(cloud).checkpoint_schemes) for cloud in ("aws", "gcp", "azure", "local")} == {
        "aws": ["s3"],
        "gcp": ["gs", "s3"],
        "azure": ["az", "s3"],
        "local": ["file", "s3"],
    }


@pytest.mark.parametrize(
    "base, uri, message",
    [
        (AWS, "az://rlckpt01/ckpt/p", "az:// is for Azure clusters; on aws use s3://"),
        (AZURE, "gs://some-bucket/p", "gs:// is for GCP clusters; on azure use az:// or s3://"),
        (GCP, "file:///tmp/ckpt", "file:// is only for the local cluster; nodes on gcp need gs:// or s3://"),
        (LOCAL, "az://rlckpt01/ckpt/p", "az:// is for Azure clusters; on local use file:// or s3://"),
    ],
)
def test_a_scheme_on_the_wrong_cloud_names_the_usable_ones(base: str, uri: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec_text(_with_storage(base, uri), "spec.yaml")
    assert [(i.path, i.message) for i in caught.value.issues] == [("storage.checkpoint_uri", message)]


def test_az_on_azure_is_accepted_with_its_account_and_container() -> None:
    spec = load_spec_text(_with_storage(AZURE, "az://rlckpt01/checkpoints/team-a"), "spec.yaml")
    assert (spec.storage.scheme, spec.storage.account, spec.storage.bucket, spec.storage.prefix) == ("az", "rlckpt01", "checkpoints", "team-a")


def _with_storage(base: str, uri: str) -> str:
    """`base` with its storage section (if any) replaced by one naming `uri`."""
    lines, skipping = [], False
    for line in base.splitlines():
        if line == "storage:":
            skipping = True
            continue
        if skipping and line.startswith("  "):
            continue
        skipping = False
        lines.append(line)
    return "\n".join(lines) + f"\nstorage:\n  checkpoint_uri: {uri}\n"


@pytest.mark.parametrize("template", templates(), ids=lambda t: t.name)
def test_every_templates_checkpoint_uri_loads_in_the_runtime(template: Template) -> None:
    spec = load_spec_text(template.text, f"{template.name}.yaml")
    uri = spec.storage.checkpoint_uri
    if uri is None:
        assert spec.cloud == "local"  # the local cluster defaults to a folder in its state dir
        return
    config = RayRuntimeConfig(checkpoint_uri=uri)
    assert config.checkpoint_uri == parse_uri(uri).uri
    assert spec.storage.scheme in driver_for(spec.cloud).checkpoint_schemes
