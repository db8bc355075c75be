"""Multi-process training under ``torchrun``: process group, DDP, data shards, rank 0.

The same script works in one process and under ``torchrun --nproc_per_node=N``: when
torchrun's ``WORLD_SIZE`` is above 1, ``fit`` joins the process group (gloo on the CPU,
nccl on CUDA), wraps the model in ``DistributedDataParallel``, and gives each process
its share of every batch. ``batch_size`` stays the *global* batch, so the result does
not depend on the number of processes. Only rank 0 prints and writes files.

Example:
    >>> ctx = current()
    >>> ctx.rank, ctx.world, ctx.is_main
    (0, 1, True)
    >>> shard(torch.arange(6), rank=1, world=2)
    tensor([1, 3, 5])
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Context:
    """This process's place in the run: rank and number of processes (world)."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def current() -> Context:
    """The context of the process group already joined, or a single process."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size())
    return Context()


def join(device: torch.device) -> Context:
    """Join the process group torchrun describes (once); a single process does nothing."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return current()
    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        # Left alive at exit, gloo's threads can abort the process as it ends ("terminate
        # called without an active exception"), failing a run that had finished.
        atexit.register(_leave)
    return current()


def _leave() -> None:
    """Leave the process group this process joined (at exit)."""
    if dist.is_initialized():
        dist.destroy_process_group()


def is_main() -> bool:
    """True in a single process and on rank 0."""
    return current().is_main


def wrap(model: nn.Module, ctx: Context, device: torch.device) -> nn.Module:
    """The module to train: ``model`` itself, or a DDP wrapper around it."""
    if not ctx.active:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def shard(indices: Tensor, rank: int, world: int) -> Tensor:
    """This rank's share of a batch's sample indices, every rank the same count.

    Rank r takes indices r, r + world, ...; a batch that does not divide evenly is padded
    by repeating its first indices (as ``DistributedSampler`` pads), so no rank idles.
    """
    if world == 1:
        return indices
    short = (-len(indices)) % world
    if short:
        reps = -(-short // len(indices))  # ceil
        indices = torch.cat([indices, indices.repeat(reps)[:short]])
    return indices[rank::world]


def all_reduce_sum(t: Tensor, ctx: Context) -> Tensor:
    """Sum of ``t`` over all processes (``t`` itself in a single process)."""
    if ctx.active:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_int(value: int, ctx: Context, device: torch.device) -> int:
    """Rank 0's ``value`` on every rank."""
    if not ctx.active:
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return int(t.item())


def barrier(ctx: Context) -> None:
    if ctx.active:
        dist.barrier()
