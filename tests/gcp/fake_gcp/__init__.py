"""A stateful fake of the Google Cloud REST APIs rlcloud and Ray's GCP provider use (see
server.py). Tests import `FakeGcp` and the failure builders from `errors`."""

from tests.gcp.fake_gcp.server import Call, FakeGcp

__all__ = ["Call", "FakeGcp"]
