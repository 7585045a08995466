"""Cloud Storage JSON API v1, objects: the calls google-cloud-storage makes to write, read,
list and delete them, with the bytes kept in the World.

- Uploads (`/upload/storage/v1/b/B/o`): `uploadType=media` (raw body, `name=` in the query),
  `multipart` (multipart/related: JSON metadata, then the bytes) and `resumable` (a POST that
  answers a session URL in `Location`, then PUTs carrying `Content-Range: bytes A-B/TOTAL`;
  308 with `Range: bytes=0-N` until the last byte, then the object). A new generation becomes
  visible only when its last byte has arrived, so a reader never sees part of an object.
- Downloads: `alt=media` on `/download/storage/v1/...` or `/storage/v1/...`, with `Range:
  bytes=A-B` (206 + Content-Range), `X-Goog-Generation` and `X-Goog-Hash: crc32c=...` (which
  the SDK checks for whole-object reads), `generation=` / `ifGenerationMatch=` pinning.
- Metadata GET, list with `prefix`, `pageToken` / `maxResults` pagination and `versions`, delete.

Access: a request without credentials is the emulator's anonymous caller and may do
anything (the provisioner tests use it). A bearer token must be one the World issued
(`World.issue_token`, or the OAuth endpoint in `oauth.py`), else 401; its member is then
checked against the bucket's IAM policy (roles and `resource.name` conditions) and refused
with Cloud Storage's 403 wording when no binding grants the permission.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
import urllib.parse
import uuid
from typing import Any

from tests.gcp.fake_gcp.access import authorize
from tests.gcp.fake_gcp.errors import rest_error
from tests.gcp.fake_gcp.routing import answer, router
from tests.gcp.fake_gcp.world import Media, Reply, Request, StoredObject, Upload, World

ROUTES, route = router(r"/storage/v1")
UPLOAD_ROUTES, upload_route = router(r"/upload/storage/v1")
DOWNLOAD_ROUTES, download_route = router(r"/download/storage/v1")
RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CONTENT_RANGE_RE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")
PAGE_SIZE = 1000


def crc32c(data: bytes) -> str:
    import google_crc32c

    return base64.b64encode(struct.pack(">I", google_crc32c.value(data))).decode()


def _error(status: int, message: str, reason: str) -> Reply:
    return answer(rest_error(status, message, reason))


def _no_bucket() -> Reply:
    return _error(404, "The specified bucket does not exist.", "notFound")


def _no_object(bucket: str, name: str) -> Reply:
    return _error(404, f"No such object: {bucket}/{name}", "notFound")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _versioned(world: World, bucket: str) -> bool:
    return bool(world.buckets.get(bucket, {}).get("versioning", {}).get("enabled", True))


def put_object(world: World, bucket: str, name: str, data: bytes = b"", content_type: str = "application/octet-stream") -> int:
    """Store a new version of an object (what a checkpoint write does); returns its generation.
    The previous live version becomes noncurrent on a versioned bucket, and is gone otherwise."""
    generation = world.next_id()
    versions = world.objects.setdefault(bucket, {}).setdefault(name, [])
    previous = _live(world, bucket, name)
    if previous is not None:
        if _versioned(world, bucket):
            world.object_data[(bucket, name, previous)].live = False
        else:
            versions.remove(previous)
            world.object_data.pop((bucket, name, previous), None)
    versions.append(generation)
    world.object_data[(bucket, name, generation)] = StoredObject(data, generation, content_type, crc32c(data), _now())
    return generation


def resource(world: World, request: Request, bucket: str, name: str, generation: int) -> dict[str, Any]:
    """The object's JSON resource, as Cloud Storage answers it."""
    stored = world.object_data.get((bucket, name, generation)) or StoredObject(b"", generation, "application/octet-stream", crc32c(b""), _now())
    quoted = urllib.parse.quote(name, safe="")
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"{request.base_url}/storage/v1/b/{bucket}/o/{quoted}",
        "mediaLink": f"{request.base_url}/download/storage/v1/b/{bucket}/o/{quoted}?generation={generation}&alt=media",
        "name": name,
        "bucket": bucket,
        "generation": str(generation),
        "metageneration": "1",
        "contentType": stored.content_type,
        "storageClass": "STANDARD",
        "size": str(len(stored.data)),
        "crc32c": stored.crc32c,
        "etag": f"C{generation}=",
        "timeCreated": stored.created,
        "updated": stored.created,
    }


def _live(world: World, bucket: str, name: str, wanted: str | None = None) -> int | None:
    """The generation a read gets: `wanted` if it exists (noncurrent ones too), else the live one."""
    versions = world.objects.get(bucket, {}).get(name, [])
    if wanted:
        return int(wanted) if int(wanted) in versions else None
    if versions and world.object_data[(bucket, name, versions[-1])].live:
        return versions[-1]
    return None


def _precondition(world: World, request: Request, bucket: str, name: str) -> Reply | None:
    """`ifGenerationMatch` (0: the object must not exist), as Cloud Storage checks it."""
    wanted = request.arg("ifGenerationMatch")
    if wanted is None:
        return None
    current = _live(world, bucket, name) or 0
    return None if int(wanted) == current else _error(412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet")


def _may_write(world: World, request: Request, bucket: str, name: str) -> Reply | None:
    """Creating needs storage.objects.create; replacing a live object also needs .delete."""
    refused = authorize(world, request, bucket, "storage.objects.create", name)
    if refused is None and _live(world, bucket, name) is not None:
        refused = authorize(world, request, bucket, "storage.objects.delete", name)
    return refused or _precondition(world, request, bucket, name)


# ------------------------------------------------------------------------------ metadata, list, delete


@route("GET", r"/b/(?P<bucket>[^/]+)/o")
def list_objects(world: World, request: Request) -> Reply:
    bucket = request.params["bucket"]
    if bucket not in world.buckets:
        return _no_bucket()
    refused = authorize(world, request, bucket, "storage.objects.list")
    if refused:
        return refused
    prefix = request.arg("prefix") or ""
    delimiter = request.arg("delimiter")
    versions = request.arg("versions") in ("true", "True")
    size = min(int(request.arg("maxResults") or PAGE_SIZE), PAGE_SIZE)
    after = request.arg("pageToken")
    entries: list[tuple[str, int]] = []
    prefixes: set[str] = set()
    for name, generations in sorted(world.objects.get(bucket, {}).items()):
        if not name.startswith(prefix):
            continue
        if delimiter and delimiter in name[len(prefix) :]:
            prefixes.add(name[: name.index(delimiter, len(prefix)) + len(delimiter)])
            continue
        live = _live(world, bucket, name)
        entries.extend((name, generation) for generation in (generations if versions else [live] if live else []))
    if after:
        entries = [e for e in entries if f"{e[0]}#{e[1]}" > after]
    page = entries[:size]
    body: dict[str, Any] = {"kind": "storage#objects", "items": [resource(world, request, bucket, n, g) for n, g in page]}
    if len(entries) > size:
        body["nextPageToken"] = f"{page[-1][0]}#{page[-1][1]}"
    if prefixes:
        body["prefixes"] = sorted(prefixes)
    return 200, body


def _find(world: World, request: Request, permission: str) -> int | Reply:
    """The generation `request` names (or the live one), or the refusal: the bucket must
    exist, the caller hold `permission` on the object, and the object exist."""
    bucket, name = request.params["bucket"], request.params["object"]
    if bucket not in world.buckets:
        return _no_bucket()
    refused = authorize(world, request, bucket, permission, name)
    if refused:
        return refused
    generation = _live(world, bucket, name, request.arg("generation"))
    return _no_object(bucket, name) if generation is None else generation


@route("GET", r"/b/(?P<bucket>[^/]+)/o/(?P<object>.+)")
def get_object(world: World, request: Request) -> Reply:
    if request.arg("alt") == "media":
        return download(world, request)
    generation = _find(world, request, "storage.objects.get")
    if not isinstance(generation, int):
        return generation
    return 200, resource(world, request, request.params["bucket"], request.params["object"], generation)


@route("DELETE", r"/b/(?P<bucket>[^/]+)/o/(?P<object>.+)")
def delete_object(world: World, request: Request) -> Reply:
    bucket, name = request.params["bucket"], request.params["object"]
    target = _find(world, request, "storage.objects.delete")
    if not isinstance(target, int):
        return target
    generations = world.objects.get(bucket, {}).get(name, [])
    wanted = request.arg("generation")
    if not wanted and _versioned(world, bucket):  # the live version becomes noncurrent, and stays
        world.object_data[(bucket, name, target)].live = False
        return 204, {}
    generations.remove(target)
    world.object_data.pop((bucket, name, target), None)
    if not generations:
        world.objects[bucket].pop(name)
    return 204, {}


# ------------------------------------------------------------------------------ downloads


@download_route("GET", r"/b/(?P<bucket>[^/]+)/o/(?P<object>.+)")
def download(world: World, request: Request) -> Reply:
    bucket, name = request.params["bucket"], request.params["object"]
    generation = _find(world, request, "storage.objects.get")
    if not isinstance(generation, int):
        return generation
    wanted = request.arg("ifGenerationMatch")
    if wanted is not None and int(wanted) != generation:
        return _error(412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet")
    stored = world.object_data[(bucket, name, generation)]
    size = len(stored.data)
    headers = {
        "X-Goog-Generation": str(generation),
        "X-Goog-Metageneration": "1",
        "X-Goog-Hash": f"crc32c={stored.crc32c}",
        "X-Goog-Stored-Content-Length": str(size),
        "X-Goog-Storage-Class": "STANDARD",
        "ETag": f"C{generation}=",
    }
    wanted_range = request.headers.get("range")
    if not wanted_range:
        return Media(200, memoryview(stored.data), headers, stored.content_type)
    match = RANGE_RE.match(wanted_range.strip())
    if not match or match.groups() == ("", ""):
        return _error(400, f"Invalid range header: {wanted_range}", "invalid")
    first, last = match.groups()
    if first == "":  # bytes=-N: the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return Media(416, b"", {**headers, "Content-Range": f"bytes */{size}"}, "text/html")
    return Media(206, memoryview(stored.data)[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{size}"}, stored.content_type)


# ------------------------------------------------------------------------------ uploads


def _multipart(request: Request) -> tuple[dict[str, Any], bytes] | None:
    """(metadata, bytes) of a multipart/related body."""
    match = re.search(r'boundary="?([^";]+)"?', request.headers.get("content-type", ""))
    if not match:
        return None
    boundary = b"--" + match.group(1).encode()
    parts = [p for p in request.raw.split(boundary) if p.strip() not in (b"", b"--")]
    if len(parts) != 2:
        return None
    payloads = []
    for part in parts:
        _headers, _, payload = part.partition(b"\r\n\r\n")
        payloads.append(payload.removesuffix(b"\r\n"))
    return json.loads(payloads[0] or b"{}"), payloads[1]


@upload_route("POST", r"/b/(?P<bucket>[^/]+)/o")
def upload(world: World, request: Request) -> Reply:
    bucket, kind = request.params["bucket"], request.arg("uploadType")
    if bucket not in world.buckets:
        return _no_bucket()
    if kind == "media":
        name = request.arg("name") or ""
        metadata: dict[str, Any] = {"contentType": request.headers.get("content-type", "application/octet-stream")}
        data = request.raw
    elif kind == "multipart":
        parsed = _multipart(request)
        if parsed is None:
            return _error(400, "Invalid multipart request.", "invalid")
        metadata, data = parsed
        name = metadata.get("name") or request.arg("name") or ""
    elif kind == "resumable":
        metadata = request.body if isinstance(request.body, dict) else {}
        name = metadata.get("name") or request.arg("name") or ""
    else:
        return _error(400, f"Unsupported upload type {kind!r}.", "invalid")
    if not name:
        return _error(400, "Required: object name.", "required")
    refused = _may_write(world, request, bucket, name)
    if refused:
        return refused
    content_type = metadata.get("contentType") or request.headers.get("x-upload-content-type") or "application/octet-stream"
    if kind != "resumable":
        expected = metadata.get("crc32c")
        if expected and expected != crc32c(data):
            return _error(400, f'Provided CRC32C "{expected}" doesn\'t match calculated CRC32C.', "invalid")
        generation = put_object(world, bucket, name, data, content_type)
        return 200, resource(world, request, bucket, name, generation)
    upload_id = uuid.uuid4().hex
    total = request.headers.get("x-upload-content-length")
    world.uploads[upload_id] = Upload(bucket, name, content_type, int(total) if total else None, metadata.get("crc32c"))
    location = f"{request.base_url}/upload/storage/v1/b/{bucket}/o?uploadType=resumable&upload_id={upload_id}"
    return Media(200, b"", {"Location": location}, "text/plain")


@upload_route("PUT", r"/b/(?P<bucket>[^/]+)/o")
def upload_chunk(world: World, request: Request) -> Reply:
    """A chunk of a resumable upload (or a status query, `bytes */TOTAL`)."""
    session = world.uploads.get(request.arg("upload_id") or "")
    if session is None:
        return _error(404, "No such upload session.", "notFound")
    match = CONTENT_RANGE_RE.match(request.headers.get("content-range", f"bytes */{len(request.raw) or '*'}").strip())
    if not match:
        return _error(400, "Invalid Content-Range.", "invalid")
    first, last, total = match.groups()
    if total != "*":
        session.total = int(total)
    if first is not None:
        start, end = int(first), int(last)
        if end - start + 1 != len(request.raw) or start > len(session.data):
            return _error(400, "Content-Range does not match the bytes sent.", "invalid")
        session.data += request.raw[len(session.data) - start :]  # an overlap is a retried chunk
    if session.total is not None and len(session.data) >= session.total:
        data = bytes(session.data[: session.total])
        if session.crc32c and session.crc32c != crc32c(data):
            return _error(400, "Provided CRC32C doesn't match calculated CRC32C.", "invalid")
        del world.uploads[request.arg("upload_id") or ""]
        generation = put_object(world, session.bucket, session.name, data, session.content_type)
        return 200, resource(world, request, session.bucket, session.name, generation)
    headers = {"Range": f"bytes=0-{len(session.data) - 1}"} if session.data else {}
    return Media(308, b"", headers, "text/plain")
