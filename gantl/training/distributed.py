"""Data-parallel training across processes started by torchrun (DistributedDataParallel).

One global batch of `world × B` rows is drawn from the seeded generator, the same on every
process; each process takes its contiguous share of B, and DDP averages the gradients. So N
processes at batch B take the steps one process takes at batch N·B (to float tolerance: the
gradient is summed in another order), and the checkpoint they write is the same format. Every
process evaluates the whole validation split with the same weights, so all agree on the epoch
they keep; only rank 0 writes (gantl.cli runs the other ranks' outputs into a discarded
transaction). On GPUs batch norm layers become SyncBatchNorm, so their statistics are the
global batch's; torch synchronises them on GPUs only, so on CPU (gloo) each process normalises
its own share, and only networks without batch norm (LeNet) match one process exactly.

`gantl stage <stage> --nproc N` starts torchrun itself; torchrun's own environment (RANK,
WORLD_SIZE, MASTER_ADDR…) is all a process needs, so multi-node launches work as torchrun's do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import torch
import torch.distributed as dist
from torch import nn


def world() -> tuple[int, int]:
    """(rank, number of processes): (0, 1) outside torchrun."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True in the process that writes outputs (rank 0, or the only one)."""
    return world()[0] == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def init_from_env() -> None:
    """Join the process group torchrun's environment describes (NCCL with CUDA, else gloo);
    a no-op outside torchrun or when already joined."""
    if not launched_by_torchrun() or dist.is_initialized():
        return
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def torchrun_command(nproc: int, argv: Sequence[str]) -> list[str]:
    """The argv that reruns `gantl <argv>` under torchrun on this machine with `nproc`
    processes (`--standalone`: a local rendezvous on a free port)."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "gantl.cli",
        *argv,
    ]


def shard(batch: torch.Tensor) -> torch.Tensor:
    """This process's contiguous share of a global batch (all of it outside torchrun)."""
    rank, size = world()
    return batch if size == 1 else batch.tensor_split(size)[rank]


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` wrapped for data-parallel training (batch norm synchronised), or `model` itself
    in a single process. The wrapper shares its parameters with `model`."""
    if world()[1] == 1:
        return model
    model = sync_batch_norm(model, device)
    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_sum(values: Sequence[float]) -> list[float]:
    """Each value summed over the processes (unchanged in a single process)."""
    if world()[1] == 1:
        return list(values)
    total = torch.tensor(list(values), dtype=torch.float64)
    dist.all_reduce(total)
    return total.tolist()


def sync_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """`module` with its batch norm layers synchronised over the processes, on GPUs (the only
    place torch synchronises them); `module` itself otherwise. Parameters are shared."""
    if world()[1] == 1 or device.type != "cuda":
        return module
    return nn.SyncBatchNorm.convert_sync_batchnorm(module)


class AveragedOptimizer:
    """An optimizer whose step first averages every gradient over the processes, as DDP's
    reducer does, for methods that call several networks apart (DANN: F, C and D) where one
    DDP wrapper cannot see the whole step. Everything else is the wrapped optimizer's."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer

    def __getattr__(self, name: str):
        return getattr(self.optimizer, name)

    def step(self, closure=None):
        grads = [
            p.grad for g in self.optimizer.param_groups for p in g["params"] if p.grad is not None
        ]
        if grads:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= world()[1]
            offset = 0
            for g in grads:
                g.copy_(flat[offset : offset + g.numel()].view_as(g))
                offset += g.numel()
        return self.optimizer.step(closure)


def averaged(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """`optimizer`, averaging gradients over the processes first when there are several."""
    return optimizer if world()[1] == 1 else AveragedOptimizer(optimizer)  # type: ignore[return-value]


def mean_over_processes(values: dict[str, float]) -> dict[str, float]:
    """Each logged epoch mean averaged over the processes (unchanged in a single process)."""
    size = world()[1]
    if size == 1:
        return values
    return dict(zip(values, (v / size for v in all_sum(list(values.values()))), strict=True))
