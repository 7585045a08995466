"""Stand-ins for the AWS APIs moto 5.2 lacks, attached to rlcloud's real boto3 clients.

- EC2 placement groups (moto: NotImplementedError / HTTP 500): a small stateful fake of
  CreatePlacementGroup / DescribePlacementGroups / DeletePlacementGroup.
- The public SSM parameters behind image aliases (moto has none of them): seeded values.
- `EnaSupport` on images (moto never reports it): seeded per AMI, default true.
- Bucket policies: moto evaluates them on object calls but supports only `StringEquals`
  conditions and ignores `Bool`, so rlcloud's "deny unless aws:SecureTransport" becomes
  "deny everything" there. Put/Get/DeleteBucketPolicy of rlcloud's clients are kept here;
  the security audit asserts the exact document.

Like botocore's Stubber, they answer at the `before-call` event, after botocore has
validated the request against the real service model, and every answer is itself checked
against the operation's output shape, so a request or response AWS would not produce fails
the test. Unlike Stubber they keep state, because `up`, `plan` and `down` make these calls
any number of times in any order.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.validate import validate_parameters

# An AMI moto serves in every region (Canonical's Ubuntu 16.04 HVM); the aliases resolve to it.
SEED_AMI = "ami-785db401"
PARAMS_KEY = "rlcloud_test_params"


def _answer(model: Any, body: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    if status < 300:
        if model.output_shape is not None:
            validate_parameters(body, model.output_shape)  # raises ParamValidationError on a wrong shape
        elif body:
            raise AssertionError(f"{model.name} returns no body, got {body}")
    meta = {"RequestId": "moto-gap", "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}
    return AWSResponse(None, status, {}, None), {**body, "ResponseMetadata": meta}


def _error(model: Any, code: str, message: str) -> tuple[AWSResponse, dict[str, Any]]:
    return _answer(model, {"Error": {"Code": code, "Message": message}}, status=400)


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """before-parameter-build sees the API parameters; before-call only the serialized request."""
    context[PARAMS_KEY] = dict(params)


@dataclass
class PlacementGroups:
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def create(self, model: Any, params: dict[str, Any]) -> Any:
        name = params["GroupName"]
        if name in self.groups:
            return _error(model, "InvalidPlacementGroup.Duplicate", f"The Placement Group '{name}' already exists.")
        tags = [t for spec in params.get("TagSpecifications", []) if spec.get("ResourceType") == "placement-group" for t in spec["Tags"]]
        group = {
            "GroupName": name,
            "GroupId": f"pg-{next(self._ids):017x}",
            "Strategy": params.get("Strategy", "cluster"),
            "State": "available",
            "Tags": tags,
            "GroupArn": f"arn:aws:ec2:us-west-2:123456789012:placement-group/{name}",
        }
        self.groups[name] = group
        return _answer(model, {"PlacementGroup": group})

    def describe(self, model: Any, params: dict[str, Any]) -> Any:
        names = params.get("GroupNames")
        if names:
            missing = [n for n in names if n not in self.groups]
            if missing:
                return _error(model, "InvalidPlacementGroup.Unknown", f"The Placement Group '{missing[0]}' is unknown.")
            found = [self.groups[n] for n in names]
        else:
            found = list(self.groups.values())
        for flt in params.get("Filters", []):
            key, values = flt["Name"], set(flt["Values"])
            if key.startswith("tag:"):
                found = [g for g in found if any(t["Key"] == key[4:] and t["Value"] in values for t in g["Tags"])]
            elif key == "group-name":
                found = [g for g in found if g["GroupName"] in values]
        return _answer(model, {"PlacementGroups": found})

    def delete(self, model: Any, params: dict[str, Any]) -> Any:
        if self.groups.pop(params["GroupName"], None) is None:
            return _error(model, "InvalidPlacementGroup.Unknown", f"The Placement Group '{params['GroupName']}' is unknown.")
        return _answer(model, {})


@dataclass
class BucketPolicies:
    policies: dict[str, str] = field(default_factory=dict)

    def put(self, model: Any, params: dict[str, Any]) -> Any:
        import json

        json.loads(params["Policy"])  # S3 refuses a policy that is not JSON
        self.policies[params["Bucket"]] = params["Policy"]
        return _answer(model, {})

    def get(self, model: Any, params: dict[str, Any]) -> Any:
        policy = self.policies.get(params["Bucket"])
        if policy is None:
            return _error(model, "NoSuchBucketPolicy", "The bucket policy does not exist")
        return _answer(model, {"Policy": policy})

    def delete(self, model: Any, params: dict[str, Any]) -> Any:
        self.policies.pop(params["Bucket"], None)
        return _answer(model, {})


@dataclass
class MotoGaps:
    """Attach with `session.on_new_client(gaps.attach)`; state lives as long as this object."""

    placement_groups: PlacementGroups = field(default_factory=PlacementGroups)
    bucket_policies: BucketPolicies = field(default_factory=BucketPolicies)
    ssm_parameters: dict[str, str] = field(default_factory=dict)
    ena_support: dict[str, bool] = field(default_factory=dict)  # AMI id -> EnaSupport; default true

    def __post_init__(self) -> None:
        from provisioner.images import AWS_IMAGE_ALIASES

        for parameter in AWS_IMAGE_ALIASES.values():
            self.ssm_parameters.setdefault(parameter, SEED_AMI)

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_id.hyphenize()
        events = client.meta.events
        if service == "ec2":
            for op, handler in (
                ("CreatePlacementGroup", self.placement_groups.create),
                ("DescribePlacementGroups", self.placement_groups.describe),
                ("DeletePlacementGroup", self.placement_groups.delete),
            ):
                events.register(f"before-parameter-build.ec2.{op}", _remember_params)
                events.register(f"before-call.ec2.{op}", self._responder(handler))
            events.register("after-call.ec2.DescribeImages", self._add_ena_support)
        elif service == "s3":
            for op, handler in (
                ("PutBucketPolicy", self.bucket_policies.put),
                ("GetBucketPolicy", self.bucket_policies.get),
                ("DeleteBucketPolicy", self.bucket_policies.delete),
            ):
                events.register(f"before-parameter-build.s3.{op}", _remember_params)
                events.register(f"before-call.s3.{op}", self._responder(handler))
        elif service == "ssm":
            for op in ("GetParameters", "GetParameter"):
                events.register(f"before-parameter-build.ssm.{op}", _remember_params)
                events.register(f"before-call.ssm.{op}", self._responder(self._ssm))

    @staticmethod
    def _responder(handler: Callable[[Any, dict[str, Any]], Any]) -> Callable[..., Any]:
        def respond(model: Any, context: dict[str, Any], **_: Any) -> Any:
            return handler(model, context[PARAMS_KEY])

        return respond

    def _ssm(self, model: Any, params: dict[str, Any]) -> Any:
        names = params.get("Names") or [params["Name"]]
        if not all(n.startswith("/aws/service/") for n in names):
            return None  # not a public parameter: moto answers
        found = [n for n in names if n in self.ssm_parameters]

        def parameter(name: str) -> dict[str, Any]:
            return {"Name": name, "Type": "String", "Value": self.ssm_parameters[name], "Version": 1, "DataType": "aws:ec2:image"}

        if model.name == "GetParameter":
            if not found:
                return _error(model, "ParameterNotFound", f"Parameter {names[0]} not found.")
            return _answer(model, {"Parameter": parameter(names[0])})
        body: dict[str, Any] = {"Parameters": [parameter(n) for n in found]}
        missing = [n for n in names if n not in found]
        if missing:  # the model allows no empty list here
            body["InvalidParameters"] = missing
        return _answer(model, body)

    def _add_ena_support(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        for image in parsed.get("Images", []):
            image.setdefault("EnaSupport", self.ena_support.get(image["ImageId"], True))
        validate_parameters({k: v for k, v in parsed.items() if k != "ResponseMetadata"}, model.output_shape)
