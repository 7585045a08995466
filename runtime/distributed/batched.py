"""`BatchedDataDict`: a dict of per-sample columns that moves between stages as one object.

Columns are tensors (batch on dim 0) or lists (one Python item per sample). Every operation
keeps the columns aligned, so prompts, their completions, rewards and advantages cannot drift
apart as a batch is repeated per group, split over samplers, merged, and sharded over ranks.
"""

from __future__ import annotations

from typing import Any

import torch


class BatchedDataDict(dict[str, Any]):
    @property
    def size(self) -> int:
        sizes = {len(v) if isinstance(v, list) else int(v.shape[0]) for v in self.values()}
        if len(sizes) > 1:
            raise ValueError(f"columns disagree on batch size: { {k: (len(v) if isinstance(v, list) else v.shape[0]) for k, v in self.items()} }")
        return sizes.pop() if sizes else 0

    def _map(self, on_tensor: Any, on_list: Any) -> BatchedDataDict:
        return BatchedDataDict({k: on_tensor(v) if isinstance(v, torch.Tensor) else on_list(v) for k, v in self.items()})

    def repeat_interleave(self, repeats: int) -> BatchedDataDict:
        """Each sample `repeats` times in a row: [a, b] -> [a, a, b, b] (one group per prompt)."""
        return self._map(lambda t: t.repeat_interleave(repeats, dim=0), lambda items: [x for x in items for _ in range(repeats)])

    def to_device(self, device: torch.device | str) -> BatchedDataDict:
        return self._map(lambda t: t.to(device), lambda items: items)

    def select_indices(self, indices: list[int] | range) -> BatchedDataDict:
        index = torch.as_tensor(list(indices), dtype=torch.long)
        return self._map(lambda t: t.index_select(0, index.to(t.device)), lambda items: [items[i] for i in index.tolist()])

    def slice(self, start: int, end: int) -> BatchedDataDict:
        return self._map(lambda t: t[start:end], lambda items: items[start:end])

    def shard_by_batch_size(self, shards: int) -> list[BatchedDataDict]:
        """`shards` contiguous pieces whose sizes differ by at most one (order preserved)."""
        if shards < 1:
            raise ValueError("shards must be >= 1")
        total = self.size
        base, extra = divmod(total, shards)
        pieces, start = [], 0
        for index in range(shards):
            end = start + base + (1 if index < extra else 0)
            pieces.append(self.slice(start, end))
            start = end
        return pieces

    @classmethod
    def from_batches(cls, batches: list[BatchedDataDict], pad_values: dict[str, Any] | None = None) -> BatchedDataDict:
        """Concatenate along the batch; 2-D+ tensors of different widths are right-padded with
        `pad_values[column]` (default 0), so sequences of different lengths can merge."""
        if not batches:
            return cls()
        pad_values = pad_values or {}
        merged = cls()
        for key in batches[0]:
            columns = [b[key] for b in batches]
            if isinstance(columns[0], torch.Tensor):
                if columns[0].dim() >= 2:
                    width = max(c.shape[1] for c in columns)
                    columns = [
                        torch.nn.functional.pad(c, (0, width - c.shape[1]), value=pad_values.get(key, 0)) if c.dim() == 2 else c for c in columns
                    ]
                merged[key] = torch.cat(columns, dim=0)
            else:
                merged[key] = [item for column in columns for item in column]
        return merged
