"""Data-parallel training across processes: one process alone, or several started by `torchrun`.

`torchrun --nproc_per_node N --module edge train ...` starts N copies of the command with RANK, WORLD_SIZE and a
rendezvous address in their environment; `World.from_environment` reads them. Every process reads the same data
and draws the same epoch plan; each takes every N-th window of it (`shard`), DistributedDataParallel averages the
gradients, so the model stays equal in every process, and only rank 0 writes files. The backend is gloo on CPU
and NCCL where each process has a GPU of its own (the same code scales to many GPUs and nodes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from edge.errors import InputError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> World:
        """This process's place among those torchrun started (one process alone without torchrun)."""
        values = {}
        for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
            text = os.environ.get(name)
            try:
                values[name] = int(text) if text is not None else None
            except ValueError:
                raise InputError(f"environment variable {name}={text!r} is not a whole number") from None
        size = values["WORLD_SIZE"] or 1
        rank = values["RANK"] or 0
        if size < 1 or not 0 <= rank < size:
            raise InputError(f"RANK {rank} is not within WORLD_SIZE {size}")
        return cls(rank=rank, size=size, local_rank=values["LOCAL_RANK"] or 0)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def backend(self) -> str:
        return "nccl" if torch.cuda.is_available() and torch.cuda.device_count() > self.local_rank else "gloo"

    @property
    def device(self) -> torch.device:
        return torch.device(f"cuda:{self.local_rank}") if self.backend == "nccl" else torch.device("cpu")

    def start(self) -> None:
        if self.size > 1 and not dist.is_initialized():
            dist.init_process_group(self.backend, rank=self.rank, world_size=self.size)

    def stop(self) -> None:
        """Leave the group together: no process tears its group down while another still talks to it."""
        if self.size > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def wrap(self, module):
        """`module` for training: wrapped in DistributedDataParallel when there are several processes."""
        if self.size == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel

        # A model may leave parameters out of a step's loss (a head whose targets the data lacks): DDP must allow it.
        ids = [self.local_rank] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)

    def shard(self, order: list[int]) -> list[int]:
        """This process's part of `order`: every size-th entry from its rank, after repeating the first entries
        so that every process gets as many (they must take the same number of steps)."""
        if self.size == 1 or not order:
            return list(order)
        padded = list(order) + list(order[: (-len(order)) % self.size])
        return padded[self.rank::self.size]

    def gather(self, value) -> list:
        """`value` of every process, in rank order (a picklable object)."""
        if self.size == 1:
            return [value]
        out = [None] * self.size
        dist.all_gather_object(out, value)
        return out

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()
