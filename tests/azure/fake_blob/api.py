"""The Blob service REST operations the fake answers, in the service's own shapes: XML bodies,
`x-ms-error-code` on every error (HEAD answers carry no body), ETag / Last-Modified, and
conditional headers (If-Match, If-None-Match).

Containers: Create (PUT ?restype=container), Get Properties (GET/HEAD ?restype=container),
Delete, List Blobs (?restype=container&comp=list: prefix, delimiter, marker / maxresults).
Blobs: Put Blob (one body), Put Block (?comp=block&blockid=) + Put Block List (?comp=blocklist,
<Latest>/<Committed>/<Uncommitted> ids), Get Blob (x-ms-range or Range: 206 + Content-Range;
x-ms-range-get-content-md5), Get Blob Properties (HEAD), Delete Blob. A blob changes only when
its Put Blob or Put Block List completes, so a reader sees the old bytes or the new.

Access is checked before anything else, as the service does: no token is 401
NoAuthenticationInformation, an unknown one 401 InvalidAuthenticationInfo, a principal
without a role carrying the action on this account or container 403
AuthorizationPermissionMismatch.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from tests.azure.fake_blob.world import (
    Blob,
    BlobWorld,
    Container,
    http_date,
    md5_b64,
    new_etag,
)

RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")
MAX_RESULTS = 5000
AUTHORITY = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/authorize"


@dataclass
class BlobRequest:
    method: str
    account: str
    container: str | None
    blob: str | None
    query: dict[str, str]
    headers: dict[str, str]  # names lowercased
    body: bytes = b""
    account_url: str = ""  # the account's URL as the caller addressed it


@dataclass
class BlobResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | memoryview = b""


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> BlobResponse:
    text = f"{message}\nRequestId:{uuid.uuid4()}\nTime:{http_date()}"
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{escape(text)}</Message></Error>'
    return BlobResponse(status, {"x-ms-error-code": code, "Content-Type": "application/xml", **(headers or {})}, body.encode())


def _xml(text: str, status: int = 200) -> BlobResponse:
    return BlobResponse(status, {"Content-Type": "application/xml"}, ('<?xml version="1.0" encoding="utf-8"?>' + text).encode())


# ------------------------------------------------------------------------------ access


def _action(request: BlobRequest) -> str:
    """The data action a request needs."""
    restype, comp = request.query.get("restype"), request.query.get("comp")
    if request.blob is None and restype == "container":
        if comp == "list":
            return "list"
        return "read" if request.method in ("GET", "HEAD") else "container"
    if request.method in ("GET", "HEAD"):
        return "read"
    return "delete" if request.method == "DELETE" else "write"


def authorize(world: BlobWorld, request: BlobRequest) -> BlobResponse | None:
    challenge = {"WWW-Authenticate": f"Bearer authorization_uri={AUTHORITY} resource_id=https://storage.azure.com"}
    header = request.headers.get("authorization", "")
    if not header:
        return error(
            401,
            "NoAuthenticationInformation",
            "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
            challenge,
        )
    scheme, _, token = header.partition(" ")
    principal = world.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        return error(
            401,
            "InvalidAuthenticationInfo",
            "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
            challenge,
        )
    if not world.allowed(principal, _action(request), request.account, request.container):
        return error(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.")
    return None


# ------------------------------------------------------------------------------ dispatch


def handle(world: BlobWorld, request: BlobRequest) -> BlobResponse:
    if request.account not in world.accounts:
        return error(404, "ResourceNotFound", "The specified resource does not exist.")
    refused = authorize(world, request)
    if refused is not None:
        return refused
    if request.container is None:
        return error(400, "FakeNotImplemented", f"the fake Blob service has no account-level {request.method} {request.query}")
    if request.blob is None:
        return _container_operation(world, request)
    with world.lock:
        container = world.accounts[request.account].get(request.container)
    if container is None:
        return error(404, "ContainerNotFound", "The specified container does not exist.")
    comp, method = request.query.get("comp"), request.method
    if method == "PUT" and comp == "block":
        return put_block(world, container, request)
    if method == "PUT" and comp == "blocklist":
        return put_block_list(world, container, request)
    if method == "PUT" and comp is None:
        return put_blob(world, container, request)
    if method in ("GET", "HEAD") and comp is None:
        return get_blob(world, container, request)
    if method == "DELETE" and comp is None:
        return delete_blob(world, container, request)
    return error(400, "FakeNotImplemented", f"the fake Blob service has no {method} ?comp={comp} on blobs")


def _container_operation(world: BlobWorld, request: BlobRequest) -> BlobResponse:
    if request.query.get("restype") != "container":
        return error(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.")
    name, method = request.container or "", request.method
    with world.lock:
        containers = world.accounts[request.account]
        container = containers.get(name)
        if method == "PUT":
            if container is not None:
                return error(409, "ContainerAlreadyExists", "The specified container already exists.")
            if not re.match(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$", name):
                return error(400, "InvalidResourceName", "The specifed resource name contains invalid characters.")
            created = world.add_container(request.account, name)
            return BlobResponse(201, {"ETag": created.etag, "Last-Modified": created.last_modified})
        if container is None:
            return error(404, "ContainerNotFound", "The specified container does not exist.")
        if method == "DELETE":
            del containers[name]
            return BlobResponse(202)
        if method in ("GET", "HEAD") and request.query.get("comp") == "list":
            return list_blobs(container, request)
        if method in ("GET", "HEAD"):
            return BlobResponse(
                200,
                {
                    "ETag": container.etag,
                    "Last-Modified": container.last_modified,
                    "x-ms-lease-status": "unlocked",
                    "x-ms-lease-state": "available",
                    "x-ms-has-immutability-policy": "false",
                    "x-ms-has-legal-hold": "false",
                },
            )
    return error(400, "FakeNotImplemented", f"the fake Blob service has no {method} on containers")


# ------------------------------------------------------------------------------ blobs


def _conditions(blob: Blob | None, request: BlobRequest, writing: bool) -> BlobResponse | None:
    if_match, if_none_match = request.headers.get("if-match"), request.headers.get("if-none-match")
    if if_none_match == "*" and blob is not None and writing:
        return error(409, "BlobAlreadyExists", "The specified blob already exists.")
    if if_match and (blob is None or (if_match != "*" and if_match != blob.etag)):
        if blob is None and not writing:
            return None  # the 404 comes next
        return error(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
    if if_none_match and if_none_match != "*" and blob is not None and if_none_match == blob.etag:
        return error(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
    return None


def _content_md5(request: BlobRequest, data: bytes) -> BlobResponse | str | None:
    """The transactional Content-MD5 checked (400 on a mismatch) and returned, if sent."""
    sent = request.headers.get("content-md5")
    if sent is None:
        return None
    actual = md5_b64(data)
    if sent != actual:
        return error(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
    return actual


def _commit(world: BlobWorld, container: Container, request: BlobRequest, blob: Blob) -> BlobResponse:
    with world.lock:
        refused = _conditions(container.blobs.get(request.blob or ""), request, writing=True)
        if refused is not None:
            return refused
        container.blobs[request.blob or ""] = blob
        container.uncommitted.pop(request.blob or "", None)  # committing discards a blob's other uncommitted blocks
    headers = {"ETag": blob.etag, "Last-Modified": blob.last_modified, "x-ms-request-server-encrypted": "true"}
    if blob.given_md5:
        headers["Content-MD5"] = blob.given_md5
    return BlobResponse(201, headers)


def put_blob(world: BlobWorld, container: Container, request: BlobRequest) -> BlobResponse:
    if request.headers.get("x-ms-blob-type", "BlockBlob") != "BlockBlob":
        return error(400, "FakeNotImplemented", "the fake Blob service keeps block blobs only")
    checked = _content_md5(request, request.body)
    if isinstance(checked, BlobResponse):
        return checked
    given = request.headers.get("x-ms-blob-content-md5") or checked
    content_type = request.headers.get("x-ms-blob-content-type", "application/octet-stream")
    return _commit(world, container, request, Blob(request.body, content_type, given, blocks=[], hash_on_read=given is None))


def _block_id(request: BlobRequest) -> str | None:
    block_id = request.query.get("blockid", "")
    try:
        base64.b64decode(block_id, validate=True)
    except (binascii.Error, ValueError):
        return None
    return block_id or None


def put_block(world: BlobWorld, container: Container, request: BlobRequest) -> BlobResponse:
    block_id = _block_id(request)
    if block_id is None:
        return error(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.")
    checked = _content_md5(request, request.body)
    if isinstance(checked, BlobResponse):
        return checked
    with world.lock:
        container.uncommitted.setdefault(request.blob or "", {})[block_id] = request.body
    headers = {"x-ms-request-server-encrypted": "true"}
    if checked:
        headers["Content-MD5"] = checked
    return BlobResponse(201, headers)


def put_block_list(world: BlobWorld, container: Container, request: BlobRequest) -> BlobResponse:
    try:
        wanted = [(item.tag, item.text or "") for item in ET.fromstring(request.body)]
    except ET.ParseError:
        return error(400, "InvalidXmlDocument", "XML specified is not syntactically valid.")
    name = request.blob or ""
    with world.lock:
        current = container.blobs.get(name)
        committed: dict[str, bytes] = {}
        if current is not None:
            offset = 0
            for block_id, size in current.blocks:
                committed[block_id] = current.data[offset : offset + size]
                offset += size
        staged = container.uncommitted.get(name, {})
        pieces: list[tuple[str, bytes]] = []
        for tag, block_id in wanted:
            sources = {"Latest": (staged, committed), "Uncommitted": (staged,), "Committed": (committed,)}.get(tag, ())
            found = next((source[block_id] for source in sources if block_id in source), None)
            if found is None:
                return error(400, "InvalidBlockList", "The specified block list is invalid.")
            pieces.append((block_id, found))
    data = b"".join(piece for _, piece in pieces)
    content_type = request.headers.get("x-ms-blob-content-type", "application/octet-stream")
    blob = Blob(data, content_type, request.headers.get("x-ms-blob-content-md5"), blocks=[(b, len(p)) for b, p in pieces])
    return _commit(world, container, request, blob)


def _properties(blob: Blob) -> dict[str, str]:
    headers = {
        "Content-Type": blob.content_type,
        "ETag": blob.etag,
        "Last-Modified": blob.last_modified,
        "x-ms-creation-time": blob.created,
        "x-ms-blob-type": "BlockBlob",
        "x-ms-lease-status": "unlocked",
        "x-ms-lease-state": "available",
        "x-ms-server-encrypted": "true",
        "x-ms-access-tier": "Hot",
        "x-ms-access-tier-inferred": "true",
        "Accept-Ranges": "bytes",
    }
    if blob.content_md5:
        headers["Content-MD5"] = blob.content_md5
    return headers


def _existing(container: Container, request: BlobRequest) -> Blob | BlobResponse:
    """The blob `request` names, or the refusal: its conditions must hold and it must exist.
    Call with the world's lock held."""
    blob = container.blobs.get(request.blob or "")
    refused = _conditions(blob, request, writing=False)
    if refused is not None:
        return refused
    return error(404, "BlobNotFound", "The specified blob does not exist.") if blob is None else blob


def get_blob(world: BlobWorld, container: Container, request: BlobRequest) -> BlobResponse:
    with world.lock:
        blob = _existing(container, request)
    if isinstance(blob, BlobResponse):
        return blob
    size = len(blob.data)
    headers = _properties(blob)
    wanted = request.headers.get("x-ms-range") or request.headers.get("range")
    if request.method == "HEAD" or not wanted:
        return BlobResponse(200, {**headers, "Content-Length": str(size)}, b"" if request.method == "HEAD" else memoryview(blob.data))
    match = RANGE_RE.match(wanted.strip())
    if not match:
        return error(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
    start = int(match.group(1))
    end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
    if start >= size:
        return error(
            416, "InvalidRange", "The range specified is invalid for the current size of the resource.", {"Content-Range": f"bytes */{size}"}
        )
    piece = memoryview(blob.data)[start : end + 1]
    headers.pop("Content-MD5", None)
    if blob.given_md5:
        headers["x-ms-blob-content-md5"] = blob.given_md5
    if request.headers.get("x-ms-range-get-content-md5") == "true":
        headers["Content-MD5"] = md5_b64(piece)
    return BlobResponse(206, {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}, piece)


def delete_blob(world: BlobWorld, container: Container, request: BlobRequest) -> BlobResponse:
    with world.lock:
        found = _existing(container, request)
        if isinstance(found, BlobResponse):
            return found
        del container.blobs[request.blob or ""]
    return BlobResponse(202, {"x-ms-delete-type-permanent": "true"})


def list_blobs(container: Container, request: BlobRequest) -> BlobResponse:
    prefix = request.query.get("prefix", "")
    delimiter = request.query.get("delimiter")
    marker = request.query.get("marker", "")
    size = min(int(request.query.get("maxresults") or MAX_RESULTS), MAX_RESULTS)
    entries: list[tuple[str, Blob | None]] = []  # (name, blob) or (prefix, None)
    seen: set[str] = set()
    for name in sorted(container.blobs):
        if not name.startswith(prefix) or name < marker:
            continue
        if delimiter and delimiter in name[len(prefix) :]:
            folder = name[: name.index(delimiter, len(prefix)) + len(delimiter)]
            if folder not in seen:
                seen.add(folder)
                entries.append((folder, None))
            continue
        entries.append((name, container.blobs[name]))
    page, rest = entries[:size], entries[size:]
    items = []
    for name, blob in page:
        if blob is None:
            items.append(f"<BlobPrefix><Name>{escape(name)}</Name></BlobPrefix>")
            continue
        md5 = f"<Content-MD5>{blob.content_md5}</Content-MD5>" if blob.content_md5 else "<Content-MD5 />"
        items.append(
            f"<Blob><Name>{escape(name)}</Name><Properties>"
            f"<Creation-Time>{blob.created}</Creation-Time><Last-Modified>{blob.last_modified}</Last-Modified>"
            f"<Etag>{escape(blob.etag)}</Etag><Content-Length>{len(blob.data)}</Content-Length>"
            f"<Content-Type>{escape(blob.content_type)}</Content-Type>{md5}<BlobType>BlockBlob</BlobType>"
            "<AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
            "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted>"
            "</Properties><OrMetadata /></Blob>"
        )
    next_marker = rest[0][0] if rest else ""
    text = (
        f'<EnumerationResults ServiceEndpoint="{escape(request.account_url)}/" ContainerName="{escape(container.name)}">'
        f"<Prefix>{escape(prefix)}</Prefix><Marker>{escape(marker)}</Marker><MaxResults>{size}</MaxResults>"
        + (f"<Delimiter>{escape(delimiter)}</Delimiter>" if delimiter else "")
        + f"<Blobs>{''.join(items)}</Blobs><NextMarker>{escape(next_marker)}</NextMarker></EnumerationResults>"
    )
    return _xml(text)


__all__ = ["BlobRequest", "BlobResponse", "error", "handle", "new_etag"]
