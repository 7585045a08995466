"""The OAuth token endpoint (who a caller is; what they may do is `access.py`'s).

- `POST /token` is a service account key's `token_uri`: `service_account_key(world, email,
  token_uri)` makes a real key file (an RSA key whose public half the World keeps), google-auth
  signs its JWT assertion with it, and the endpoint checks the signature and answers an access
  token acting as that account. (An `authorized_user` file cannot be pointed here: google-auth
  always replaces its token_uri with Google's.)
- `asserted_account` also checks a self-signed JWT sent as the bearer token itself, which
  google-cloud-* clients send for service account keys instead of asking for a token.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import uuid

from tests.gcp.fake_gcp.routing import router
from tests.gcp.fake_gcp.world import Reply, Request, World

ROUTES, route = router("")


def service_account_key(world: World, email: str, token_uri: str) -> dict[str, str]:
    """A JSON key file's contents for an existing service account; its tokens come from `token_uri`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if email not in world.service_accounts:
        raise KeyError(f"no service account {email}")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    world.account_keys.setdefault(email, []).append(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    account = world.service_accounts[email]
    return {
        "type": "service_account",
        "project_id": account["projectId"],
        "private_key_id": uuid.uuid4().hex,
        "private_key": private.decode(),
        "client_email": email,
        "client_id": account["uniqueId"],
        "token_uri": token_uri,
    }


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def asserted_account(world: World, assertion: str) -> str | None:
    """The service account whose key signed this JWT (RS256), or None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        header, payload, signature = assertion.split(".")
        claims = json.loads(_b64url(payload))
        email = claims.get("iss", "")
    except ValueError:
        return None
    if float(claims.get("exp", 0)) < time.time():
        return None  # expired, as Google refuses it
    for pem in world.account_keys.get(email, []):
        public = serialization.load_pem_public_key(pem)
        assert isinstance(public, rsa.RSAPublicKey)
        try:
            public.verify(_b64url(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return str(email)
    return None


@route("POST", r"/token")
def token(world: World, request: Request) -> Reply:
    form = urllib.parse.parse_qs(request.raw.decode())
    email = asserted_account(world, (form.get("assertion") or [""])[0])
    if (form.get("grant_type") or [""])[0] != "urn:ietf:params:oauth:grant-type:jwt-bearer" or email is None:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    return 200, {"access_token": world.issue_token(f"serviceAccount:{email}"), "expires_in": 3599, "token_type": "Bearer"}
