"""The GPU fast path: mixed precision, channels_last, pinned memory with non-blocking copies,
and an optional torch.compile. On whenever training runs on CUDA; on any other device every
method here is the identity, so CPU runs stay bit for bit what they were.

Mixed precision is bf16 where the GPU has it (no loss scaling needed: bf16 keeps fp32's
exponent range), else fp16 with a GradScaler, which skips a step whose gradients overflowed and
lowers the scale. Checkpoints hold fp32 weights either way: autocast only changes the precision
of the forward's matrix products, not the parameters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class FastPath:
    """How one training loop uses its device (see the module docstring)."""

    def __init__(self, device: torch.device, amp: bool = True, compile: bool = False) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        self.compile = compile and self.cuda
        self.dtype: torch.dtype | None = None
        if self.cuda and amp:
            bf16 = torch.cuda.is_bf16_supported()
            self.dtype = torch.bfloat16 if bf16 else torch.float16
        fp16 = self.dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda") if fp16 else None

    def prepare(self, model: nn.Module) -> nn.Module:
        """The model to call in the loop: channels_last (and compiled) on CUDA. It shares its
        parameters with `model`, which the caller keeps for evaluation and saving."""
        if not self.cuda:
            return model
        model.to(memory_format=torch.channels_last)
        return torch.compile(model) if self.compile else model

    def batch(self, x: torch.Tensor) -> torch.Tensor:
        """A batch on the device: pinned and copied without blocking, channels_last on CUDA."""
        if not self.cuda:
            return x.to(self.device)
        x = x.pin_memory().to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x

    def labels(self, y: torch.Tensor) -> torch.Tensor:
        return y.pin_memory().to(self.device, non_blocking=True) if self.cuda else y.to(self.device)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """The forward pass's precision: bf16/fp16 on CUDA, unchanged elsewhere."""
        if self.dtype is None:
            yield
            return
        with torch.autocast("cuda", dtype=self.dtype):
            yield

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimizer step, through the GradScaler under fp16."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
            return
        self.scaler.scale(loss).backward()
        self.scaler.step(optimizer)
        self.scaler.update()
