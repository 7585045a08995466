"""The checkpoint store's guarantees, as checks any storage backend must pass unchanged: a
round trip in parts, resume from the newest, a corrupted part falling back to the previous
checkpoint, and pruning (with a dead writer's data collected). Backend test modules call
these with a store on their fake; each check asserts what it promises."""

from __future__ import annotations

import json

import pytest

from runtime.checkpoint.store import CheckpointStore
from runtime.errors import CheckpointCorruptError

MB = 1024 * 1024


def files(seed: int, size: int = 1_500_000) -> dict[str, bytes]:
    return {"model.bin": bytes((seed + i) % 251 for i in range(size)), "progress.json": json.dumps({"seed": seed}).encode()}


def roundtrip_in_parts(store: CheckpointStore) -> None:
    written = files(1, size=2 * store.part_bytes + 1000)
    ref, stats = store.save(7, written, meta={"note": "x"})
    assert stats.bytes == sum(len(v) for v in written.values())
    assert store.latest() == ref and ref.step == 7
    loaded, meta, _ = store.load(ref)
    assert {k: bytes(v) for k, v in loaded.items()} == written and meta == {"note": "x"}
    assert len([k for k in store.storage.list(f"data/{ref.name}/") if "model.bin" in k]) == 3


def resume_from_newest(store: CheckpointStore) -> None:
    for step in (4, 12, 8):  # the newest is the highest step, whatever the order of saving
        store.save(step, files(step))
    found = store.load_newest()
    assert found is not None
    ref, loaded, _, _ = found
    assert ref.step == 12 and bytes(loaded["model.bin"]) == files(12)["model.bin"]


def corrupt_part_falls_back(store: CheckpointStore) -> None:
    older, _ = store.save(4, files(4))
    newer, _ = store.save(8, files(8))
    part = next(k for k in store.storage.list(f"data/{newer.name}/") if "model.bin" in k)
    data = bytearray(store.storage.get(part))
    data[100] ^= 0xFF
    store.storage.put(part, bytes(data))
    with pytest.raises(CheckpointCorruptError, match="does not match its manifest checksum"):
        store.load(newer)
    found = store.load_newest()
    assert found is not None
    ref, loaded, _, _ = found
    assert ref == older and bytes(loaded["model.bin"]) == files(4)["model.bin"]


def prune_keeps_newest_and_protected(store: CheckpointStore) -> None:
    refs = [store.save(step, files(step, size=1000))[0] for step in (2, 4, 6, 8, 10)]
    store.storage.put("data/step-00000012.0badc0de/model.bin.00000", b"partial")  # a dead writer's
    deleted = store.prune(keep=2, protect=frozenset({refs[0].name}))
    assert sorted(deleted) == sorted([r.name for r in refs[1:3]] + ["step-00000012.0badc0de"])
    assert [r.step for r in store.list_complete()] == [2, 8, 10]
    assert {k.split("/")[1] for k in store.storage.list("data/")} == {refs[0].name, refs[3].name, refs[4].name}


ALL = [roundtrip_in_parts, resume_from_newest, corrupt_part_falls_back, prune_keeps_newest_and_protected]
