"""The cluster's EC2 key pair: the public half of the SSH key rlcloud generated locally
(private key 0600 in the cluster's state dir), imported so no private key ever leaves this
machine and Ray creates no key of its own (the compiled config names it in `KeyName`)."""

from __future__ import annotations

from typing import Any

from provisioner import naming
from provisioner.clouds.aws import tags
from provisioner.clouds.aws.errors import aws_errors, or_none
from provisioner.clouds.aws.inspection import KEY_PAIR, Inspection, Recorder
from provisioner.state import CloudResource


def _key_body(public_key: str) -> str:
    """'ssh-rsa AAAA... comment' -> 'ssh-rsa AAAA...' (AWS keeps no comment)."""
    return " ".join(public_key.split()[:2])


def find(ec2: Any, name: str) -> dict[str, Any] | None:
    answer = or_none(ec2.describe_key_pairs, "InvalidKeyPair.NotFound", KeyNames=[name], IncludePublicKey=True)
    return answer["KeyPairs"][0] if answer and answer["KeyPairs"] else None


def inspect(ec2: Any, cluster: str, public_key: str | None) -> Inspection:
    name = naming.aws_key_pair(cluster)
    with aws_errors(f"looking up key pair {name}"):
        current = find(ec2, name)
    if current is None:
        return Inspection(KEY_PAIR, name, "create", "imports this cluster's SSH public key")
    tags.require_ours(current.get("Tags"), cluster, f"key pair {name}")
    if public_key is None or _key_body(current.get("PublicKey", "")) != _key_body(public_key):
        return Inspection(KEY_PAIR, name, "update", "the local SSH key differs; re-import it", current=current)
    return Inspection(KEY_PAIR, name, "keep", current=current)


def ensure(ec2: Any, cluster: str, public_key: str, found: Inspection, record: Recorder) -> str:
    name = found.name
    if found.action == "keep":
        record(CloudResource(kind=KEY_PAIR, id=name))
        return name
    with aws_errors(f"importing key pair {name}"):
        if found.action == "update":
            ec2.delete_key_pair(KeyName=name)
        ec2.import_key_pair(
            KeyName=name,
            PublicKeyMaterial=public_key.encode(),
            TagSpecifications=tags.tag_specification("key-pair", cluster, name),
        )
    record(CloudResource(kind=KEY_PAIR, id=name))
    return name


def delete(ec2: Any, name: str) -> None:
    # DeleteKeyPair succeeds for a missing key, so a repeated `down` is quiet.
    ec2.delete_key_pair(KeyName=name)
