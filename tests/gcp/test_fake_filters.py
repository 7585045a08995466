"""The fake's Compute list filters must select what the real API selects, or the sweep and
head-address tests would prove nothing."""

from __future__ import annotations

import pytest

from tests.gcp.fake_gcp.filters import compile_filter

VM = {"name": "ray-c1-head-0a1b2c3d-compute", "status": "RUNNING", "labels": {"ray-cluster-name": "c1", "ray-node-type": "head"}}


@pytest.mark.parametrize(
    "expr, selected",
    [
        ("labels.ray-cluster-name = c1", True),
        ("labels.ray-cluster-name = c2", False),
        ("labels.ray-cluster-name != c2", True),
        ('name eq "ray-c1-(head|worker)-[0-9a-f]{8}-compute"', True),
        ('name eq "ray-c1-worker-.*"', False),
        ('name eq "ray-c1"', False),  # a full match, not a search
        ("(labels.ray-node-type = head) AND ((status = STAGING) OR (status = RUNNING))", True),
        ("(labels.ray-node-type = worker) OR (status = TERMINATED)", False),
        ("(labels.ray-cluster-name = c1) AND (NOT labels.tpu_cores:*)", True),
        ("labels.tpu_cores:*", False),
        ("(labels.ray-cluster-name = c1) (status = RUNNING)", True),  # adjacent terms are ANDed
        ("", True),
    ],
)
def test_filter(expr: str, selected: bool) -> None:
    assert compile_filter(expr)(VM) is selected


def test_bad_filter_is_refused() -> None:
    with pytest.raises(ValueError):
        compile_filter("(labels.a = b")
