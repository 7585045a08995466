"""Who is calling, and may they: the OAuth token endpoint and Cloud Storage's IAM check.

- `POST /token` is a service account key's `token_uri`: `service_account_key(world, email,
  token_uri)` makes a real key file (an RSA key whose public half the World keeps), google-auth
  signs its JWT assertion with it, and the endpoint checks the signature and answers an access
  token acting as that account. (An `authorized_user` file cannot be pointed here: google-auth
  always replaces its token_uri with Google's.)
- `authorize` is what the object handlers ask before acting: no Authorization header is the
  emulator's anonymous caller (allowed, as the provisioner tests rely on); an unknown bearer
  token is 401; a known one passes only if a binding of the bucket's IAM policy names the
  member, its role carries the permission, and its condition (the `resource.name == "..."` /
  `resource.name.startsWith("...")` clauses rlcloud writes, joined by `||`) holds.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import uuid

from tests.gcp.fake_gcp.errors import rest_error
from tests.gcp.fake_gcp.routing import answer, router
from tests.gcp.fake_gcp.world import Reply, Request, World

ROUTES, route = router("")

_OBJECT_READ = {"storage.objects.get", "storage.objects.list"}
_OBJECT_ALL = _OBJECT_READ | {"storage.objects.create", "storage.objects.delete", "storage.objects.update"}
#: Predefined roles and the object permissions they carry (Cloud Storage's IAM roles page).
ROLE_PERMISSIONS: dict[str, set[str]] = {
    "roles/storage.objectViewer": _OBJECT_READ,
    "roles/storage.objectCreator": {"storage.objects.create"},
    "roles/storage.objectUser": _OBJECT_ALL,
    "roles/storage.objectAdmin": _OBJECT_ALL,
    "roles/storage.admin": _OBJECT_ALL,
    "roles/storage.legacyBucketOwner": {"storage.objects.list", "storage.objects.create", "storage.objects.delete"},
    "roles/storage.legacyBucketWriter": {"storage.objects.list", "storage.objects.create", "storage.objects.delete"},
    "roles/storage.legacyBucketReader": {"storage.objects.list"},
    "roles/storage.legacyObjectReader": {"storage.objects.get"},
}
_CLAUSE_RE = re.compile(r'^\(?\s*resource\.name(?:\s*==\s*"(?P<equals>[^"]*)"|\.startsWith\("(?P<prefix>[^"]*)"\))\s*\)?$')


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


def _asserted_account(world: World, assertion: str) -> str | None:
    """The service account whose key signed this JWT (RS256), or None."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        header, payload, signature = assertion.split(".")
        email = json.loads(_b64url(payload)).get("iss", "")
    except ValueError:
        return None
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
    email = _asserted_account(world, (form.get("assertion") or [""])[0])
    if (form.get("grant_type") or [""])[0] != "urn:ietf:params:oauth:grant-type:jwt-bearer" or email is None:
        return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    return 200, {"access_token": world.issue_token(f"serviceAccount:{email}"), "expires_in": 3599, "token_type": "Bearer"}


def condition_holds(expression: str, resource_name: str) -> bool:
    for clause in (c.strip() for c in expression.split("||")):
        match = _CLAUSE_RE.match(clause)
        if match is None:
            raise ValueError(f"the fake cannot evaluate the IAM condition clause {clause!r}")
        if match.group("equals") is not None and resource_name == match.group("equals"):
            return True
        if match.group("prefix") is not None and resource_name.startswith(match.group("prefix")):
            return True
    return False


def authorize(world: World, request: Request, bucket: str, permission: str, name: str | None = None) -> Reply | None:
    """None when the caller may use `permission` on the bucket (or on object `name`), else the error."""
    header = request.headers.get("authorization", "")
    if not header:
        return None
    member = world.access_tokens.get(header.removeprefix("Bearer ").strip())
    if member is None:
        failure = rest_error(401, "Invalid Credentials", "authError")
        failure.body["error"]["errors"][0]["locationType"] = "header"
        return answer(failure)
    resource_name = f"projects/_/buckets/{bucket}" + (f"/objects/{name}" if name is not None else "")
    for binding in world.bucket_policies.get(bucket, {}).get("bindings", []):
        if member not in binding.get("members", []) or permission not in ROLE_PERMISSIONS.get(binding.get("role", ""), set()):
            continue
        condition = binding.get("condition")
        if condition is None or condition_holds(condition.get("expression", ""), resource_name):
            return None
    what = "object" if name is not None else "bucket"
    principal = member.split(":", 1)[-1]
    message = (
        f"{principal} does not have {permission} access to the Google Cloud Storage {what}. "
        f"Permission '{permission}' denied on resource (or it may not exist)."
    )
    return answer(rest_error(403, message, "forbidden"))
