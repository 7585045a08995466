"""BatchedDataDict keeps columns aligned through repeat, shard, select and merge."""

from __future__ import annotations

import pytest
import torch

from runtime.distributed.batched import BatchedDataDict


def batch() -> BatchedDataDict:
    return BatchedDataDict(ids=torch.arange(10).view(5, 2), text=list("abcde"))


def test_repeat_interleave_makes_groups() -> None:
    out = batch().repeat_interleave(3)
    assert out.size == 15
    assert out["text"][:6] == list("aaabbb")
    assert out["ids"][:3].tolist() == [[0, 1]] * 3


def test_shards_are_contiguous_and_differ_by_at_most_one() -> None:
    shards = batch().shard_by_batch_size(3)
    assert [s.size for s in shards] == [2, 2, 1]
    assert [t for s in shards for t in s["text"]] == list("abcde")
    assert BatchedDataDict.from_batches(shards)["ids"].tolist() == batch()["ids"].tolist()


def test_merge_right_pads_sequences_of_different_lengths() -> None:
    short = BatchedDataDict(ids=torch.ones(2, 3, dtype=torch.long), text=["x", "y"])
    long = BatchedDataDict(ids=torch.full((1, 5), 2, dtype=torch.long), text=["z"])
    merged = BatchedDataDict.from_batches([short, long], pad_values={"ids": 9})
    assert merged["ids"].tolist() == [[1, 1, 1, 9, 9], [1, 1, 1, 9, 9], [2, 2, 2, 2, 2]]
    assert merged["text"] == ["x", "y", "z"]


def test_select_and_device_keep_alignment() -> None:
    picked = batch().select_indices([4, 0]).to_device("cpu")
    assert picked["text"] == ["e", "a"] and picked["ids"].tolist() == [[8, 9], [0, 1]]


def test_misaligned_columns_are_an_error() -> None:
    with pytest.raises(ValueError, match="disagree on batch size"):
        _ = BatchedDataDict(ids=torch.zeros(3), text=["a"]).size
