"""The per-cluster SSH key pair: generated locally (private key 0600 in the state dir), so no
cloud ever generates or holds our private key, and Ray never creates keys of its own."""

from __future__ import annotations

import os
from pathlib import Path


def ensure_keypair(private_path: Path, comment: str) -> str:
    """Create an RSA-3072 key pair at `private_path` (+ `.pub`) if missing; return the public key text.

    RSA rather than Ed25519 because every cloud's VM images and key APIs accept it.
    """
    public_path = private_path.with_name(private_path.name + ".pub")
    if private_path.exists() and public_path.exists():
        return public_path.read_text().strip()
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    private_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private)
    text = f"{public.decode()} {comment}"
    public_path.write_text(text + "\n")
    return text
