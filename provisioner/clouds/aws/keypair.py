"""The cluster's EC2 key pair: the public half of the SSH key rlcloud generated locally
(private key 0600 in the cluster's state dir), imported so no private key ever leaves this
machine and Ray creates no key of its own (the compiled config names it in `KeyName`)."""

from __future__ import annotations

from typing import Any

from provisioner import naming
from provisioner.clouds import ownership
from provisioner.clouds.aws import tags
from provisioner.clouds.reconcile import Resource

KIND = "key_pair"


def _key_body(public_key: str) -> str:
    """'ssh-rsa AAAA... comment' -> 'ssh-rsa AAAA...' (AWS keeps no comment)."""
    return " ".join(public_key.split()[:2])


def declare(ec2: Any, cluster: str, region: str, public_key: str | None) -> Resource[dict[str, Any]]:
    """`public_key` None while planning without a local key (`up` generates one): then the
    key pair counts as drifted, since `up` will import a new key."""
    name = naming.aws_key_pair(cluster)

    def read() -> dict[str, Any] | None:
        # An unknown name answers InvalidKeyPair.NotFound, which the reconciler reads as absent.
        pairs: list[dict[str, Any]] = ec2.describe_key_pairs(KeyNames=[name], IncludePublicKey=True)["KeyPairs"]
        return pairs[0] if pairs else None

    def create() -> dict[str, Any]:
        assert public_key is not None, "`up` generates the SSH key before applying"
        ec2.import_key_pair(KeyName=name, PublicKeyMaterial=public_key.encode(), TagSpecifications=tags.tag_specification("key-pair", cluster, name))
        return {"KeyName": name, "PublicKey": public_key}

    def update(_: dict[str, Any]) -> dict[str, Any]:
        ec2.delete_key_pair(KeyName=name)  # AWS cannot change a key pair's key: replace it
        return create()

    def drift(found: dict[str, Any]) -> str | None:
        if public_key is None or _key_body(found.get("PublicKey", "")) != _key_body(public_key):
            return "the local SSH key differs; re-import it"
        return None

    return Resource(
        kind=KIND,
        name=name,
        read=read,
        create=create,
        update=update,
        # DeleteKeyPair succeeds for a missing key, so a repeated `down` is quiet.
        delete=lambda _: ec2.delete_key_pair(KeyName=name),
        drift=drift,
        owned=lambda found: ownership.tags_say_ours(tags.as_dict(found.get("Tags")), cluster),
        detail="this cluster's SSH public key; the private key never leaves this machine",
        foreign_hint=tags.foreign_hint(cluster),
        delete_command=f"aws ec2 --region {region} delete-key-pair --key-name {name}",
    )
