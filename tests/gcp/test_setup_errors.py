"""What a user without the GCP extra or without credentials sees: one line and what to do,
exit 1, no traceback, no call made."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.gcp.conftest import GcpProject
from tests.support.cli import run_cli
from tests.support.specs import GCP

SPEC = GCP  # any valid GCP spec: nothing may get as far as reading it from the cloud


class _NotInstalled:
    """A meta path finder that makes one package look absent, as on a machine without it."""

    def __init__(self, package: str) -> None:
        self.package = package

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == self.package or name.startswith(self.package + "."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@pytest.mark.parametrize("module, package", [("google.cloud.storage", "google-cloud-storage"), ("googleapiclient", "google-api-python-client")])
def test_missing_sdk_names_the_extra(gcp: GcpProject, monkeypatch: pytest.MonkeyPatch, module: str, package: str) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NotInstalled(module), *sys.meta_path])
    result = run_cli("plan", str(gcp.spec(SPEC)))
    assert result.code == 1, result.text
    assert f"{package} is not installed" in result.text and "pip install 'rlcloud[gcp]'" in result.text
    assert "Traceback" not in result.text and gcp.fake.calls == []


def test_no_credentials_says_how_to_log_in(gcp: GcpProject, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("RLCLOUD_GCE_ENDPOINT", "RLCLOUD_IAM_ENDPOINT", "RLCLOUD_CRM_ENDPOINT", "RLCLOUD_GCS_ENDPOINT"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    result = run_cli("plan", str(gcp.spec(SPEC)))
    assert result.code == 1, result.text
    assert "no Google Cloud credentials found" in result.text and "gcloud auth application-default login" in result.text
    assert "Traceback" not in result.text and gcp.fake.calls == []
