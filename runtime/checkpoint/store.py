"""Crash-consistent checkpoints on any `ObjectStorage` (S3, Cloud Storage, Blob Storage or local disk).

Layout under the checkpoint URI:

    data/step-00000012.3f9c0a1e/model.safetensors.00000   <- parts, written first, in parallel
    data/step-00000012.3f9c0a1e/optimizer.pt.00000
    manifests/step-00000012.3f9c0a1e.json                 <- written last: the commit

A checkpoint exists only once its manifest does. Until then its data sits under a prefix
nobody reads (the name carries a random attempt id, so a retried save never collides with a
dead writer's parts). The manifest lists every part with its size and SHA-256; `load`
verifies them, so a torn or corrupted checkpoint is detected, never silently loaded.

Files are split into parts of `part_mb` and moved by a thread pool: parallel single-object
PUT/GETs scale on S3 like multipart transfers do, every part gets its own checksum computed
in the thread that moves it (hashlib releases the GIL), and no part needs a multipart
upload to be completed or aborted after a crash.

One writer per checkpoint URI: `prune` treats manifest-less data as a dead writer's garbage.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import CheckpointCorruptError, StorageError
from runtime.failpoints import failpoint
from runtime.storage import ObjectStorage, open_storage
from runtime.storage.base import Buffer

log = logging.getLogger(__name__)

FORMAT = "rlcloud-checkpoint/1"
MB = 1024 * 1024
NAME_RE = re.compile(r"^step-(\d{8})\.([0-9a-f]{8})$")


@dataclass(frozen=True, order=True)
class CheckpointRef:
    """A complete checkpoint: its step and its name (step + attempt id)."""

    step: int
    created_at: float
    name: str = field(compare=False)

    @property
    def manifest_key(self) -> str:
        return f"manifests/{self.name}.json"


@dataclass(frozen=True)
class TransferStats:
    bytes: int
    seconds: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.seconds if self.seconds > 0 else float("inf")


def _sha256(data: Buffer) -> str:
    return hashlib.sha256(data).hexdigest()


class CheckpointStore:
    def __init__(self, uri: str | ObjectStorage, *, part_mb: int = 16, threads: int = 8) -> None:
        """`uri` is a checkpoint URI (its backend is opened here) or an opened backend."""
        self.storage: ObjectStorage = uri if isinstance(uri, ObjectStorage) else open_storage(uri, max_connections=max(16, 2 * threads))
        self.uri = self.storage.uri
        self.part_bytes = part_mb * MB
        self.threads = threads

    # ------------------------------------------------------------------ save

    def save(self, step: int, files: Mapping[str, Buffer], meta: dict[str, Any] | None = None) -> tuple[CheckpointRef, TransferStats]:
        """Write `files` as the checkpoint of `step`; it becomes visible only when complete."""
        name = f"step-{step:08d}.{uuid.uuid4().hex[:8]}"
        start = time.perf_counter()
        jobs = []  # (file name, part index, key, memoryview)
        for file_name, data in files.items():
            view = memoryview(data).cast("B")
            count = max(1, -(-len(view) // self.part_bytes))
            for index in range(count):
                part = view[index * self.part_bytes : (index + 1) * self.part_bytes]
                jobs.append((file_name, index, f"data/{name}/{file_name}.{index:05d}", part))

        def upload(job: tuple[str, int, str, memoryview]) -> dict[str, Any]:
            _, _, key, part = job
            digest = _sha256(part)
            self.storage.put(key, part)
            return {"key": key, "size": len(part), "sha256": digest}

        with ThreadPoolExecutor(self.threads) as pool:
            parts = list(pool.map(upload, jobs))
        manifest_files: dict[str, Any] = {}
        for (file_name, _, _, _), uploaded in zip(jobs, parts):
            entry = manifest_files.setdefault(file_name, {"size": 0, "parts": []})
            entry["size"] += uploaded["size"]
            entry["parts"].append(uploaded)
        created_at = time.time()
        manifest = {"format": FORMAT, "name": name, "step": step, "created_at": created_at, "meta": meta or {}, "files": manifest_files}
        failpoint("checkpoint.before_manifest", step=step)
        ref = CheckpointRef(step=step, created_at=created_at, name=name)
        self.storage.put(ref.manifest_key, json.dumps(manifest, indent=1).encode())
        total = sum(p["size"] for p in parts)
        return ref, TransferStats(bytes=total, seconds=time.perf_counter() - start)

    # ------------------------------------------------------------------ read

    def list_complete(self) -> list[CheckpointRef]:
        """Complete checkpoints, oldest first (by step, then time of commit)."""
        refs = []
        for key in self.storage.list("manifests/"):
            stem = key.removeprefix("manifests/").removesuffix(".json")
            match = NAME_RE.match(stem)
            if not match:
                continue
            manifest = self._manifest(stem)
            if manifest is None:
                continue
            refs.append(CheckpointRef(step=int(match.group(1)), created_at=float(manifest.get("created_at", 0)), name=stem))
        return sorted(refs)

    def latest(self) -> CheckpointRef | None:
        refs = self.list_complete()
        return refs[-1] if refs else None

    def _manifest(self, name: str) -> dict[str, Any] | None:
        try:
            manifest = json.loads(self.storage.get(f"manifests/{name}.json"))
        except (StorageError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable manifest %s: %s", name, exc)
            return None
        if manifest.get("format") != FORMAT:
            log.warning("ignoring manifest %s of unknown format %r", name, manifest.get("format"))
            return None
        return manifest

    def load(self, ref: CheckpointRef) -> tuple[dict[str, bytearray], dict[str, Any], TransferStats]:
        """The files and meta of a complete checkpoint, every part verified against the manifest."""
        manifest = self._manifest(ref.name)
        if manifest is None:
            raise CheckpointCorruptError(f"{self.uri}/{ref.manifest_key} is missing or unreadable")
        start = time.perf_counter()
        buffers = {name: bytearray(entry["size"]) for name, entry in manifest["files"].items()}
        jobs = []
        for name, entry in manifest["files"].items():
            offset = 0
            for part in entry["parts"]:
                jobs.append((name, offset, part))
                offset += part["size"]

        def download(job: tuple[str, int, dict[str, Any]]) -> None:
            name, offset, part = job
            target = memoryview(buffers[name])[offset : offset + part["size"]]
            try:
                size = self.storage.get_into(part["key"], target)  # straight into the file's buffer
            except StorageError as exc:
                raise CheckpointCorruptError(f"checkpoint {ref.name}: part {part['key']} unreadable: {exc}") from None
            if size != part["size"] or _sha256(target) != part["sha256"]:
                raise CheckpointCorruptError(f"checkpoint {ref.name}: part {part['key']} does not match its manifest checksum")

        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(download, jobs))
        total = sum(len(b) for b in buffers.values())
        return buffers, manifest.get("meta", {}), TransferStats(bytes=total, seconds=time.perf_counter() - start)

    def load_newest(self) -> tuple[CheckpointRef, dict[str, bytearray], dict[str, Any], TransferStats] | None:
        """The newest checkpoint that verifies; a corrupt one is skipped with a warning."""
        for ref in reversed(self.list_complete()):
            try:
                files, meta, stats = self.load(ref)
            except CheckpointCorruptError as exc:
                log.warning("skipping checkpoint: %s", exc)
                continue
            return ref, files, meta, stats
        return None

    # ------------------------------------------------------------------ retention

    def prune(self, keep: int, protect: frozenset[str] = frozenset()) -> list[str]:
        """Keep the newest `keep` complete checkpoints plus `protect`ed names; delete the rest
        and any data without a manifest (a dead writer's). Returns the names deleted."""
        complete = self.list_complete()
        keep_names = {ref.name for ref in complete[-keep:]} | set(protect)
        doomed = [ref.name for ref in complete if ref.name not in keep_names]
        # Manifests first: a checkpoint disappears atomically, then its data is collected.
        self.storage.delete(f"manifests/{name}.json" for name in doomed)
        live = {ref.name for ref in complete if ref.name not in doomed}
        garbage: list[str] = []
        orphans: set[str] = set()
        for key in self.storage.list("data/"):
            owner = key.split("/", 2)[1] if key.count("/") >= 2 else ""
            if owner not in live:
                garbage.append(key)
                orphans.add(owner)
        self.storage.delete(garbage)
        return sorted(set(doomed) | orphans)
