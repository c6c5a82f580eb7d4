"""Running rounds on several processes (`torchrun --nproc-per-node K deformlearn round --distributed ...`).

One process per rank; rank 0 is the only one that writes to the project, the others read what it wrote
after a barrier. Registration is sharded (each rank fits every K-th person of a chunk and rank 0 gathers
and commits the fits); the regressor trains with DistributedDataParallel (each rank takes every K-th sample
of each batch, gradients are averaged, so K ranks see the same batches a single process sees). The cGAN
is small and trains on rank 0 alone.

Backend: NCCL when the device is CUDA, else gloo. Without torchrun (no RANK in the environment) everything
runs as a single process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """rank and world size of this process; `active` when a process group is initialised."""

    rank: int = 0
    world_size: int = 1
    active: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence) -> list:
        """This rank's share of `items`: every world_size-th item from position `rank`."""
        return list(items[self.rank::self.world_size])

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def gather(self, obj: Any) -> list | None:
        """Every rank's `obj` on rank 0 (in rank order); None on the other ranks."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's `obj` on every rank."""
        if not self.active:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


SINGLE = DistContext()


def init_distributed(device: str = "cpu") -> DistContext:
    """Join the process group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ValueError("--distributed needs torchrun (RANK and WORLD_SIZE are not set)")
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
        if device.startswith("cuda"):
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return DistContext(dist.get_rank(), dist.get_world_size(), True)


def close_distributed(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()
