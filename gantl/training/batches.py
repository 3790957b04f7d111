"""Index batches over in-memory tensors: a batch is an index into them, no per-item Python work.

Two kinds of epoch:
- one domain (`shuffled_batches`): one pass over a shuffled order, as supervised training does;
- several domains (`balanced_batches`): `batch_size` rows of each domain per step, over the
  largest one, the smaller ones reshuffled and cycled (DANN, ADDA, CycleGAN, StarGAN).

A pool that holds several views of each image (original and translated source, or translated
copies with fresh noise) is sampled, not swept: its epoch visits as many rows as there are
images (`rows`, `steps`), so GAN augmentation adds diversity at the same number of steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import torch


def shuffled_batches(
    n: int,
    batch_size: int,
    generator: torch.Generator,
    rows: int | None = None,
    min_rows: int = 2,
) -> Iterator[torch.Tensor]:
    """One epoch over `rows` (default all `n`) of `n` rows in a fresh random order; a trailing
    batch of fewer than `min_rows` is skipped (a lone sample breaks batch norm and adds
    nothing; data-parallel training asks for two per process)."""
    rows = n if rows is None else min(rows, n)
    order = torch.randperm(n, generator=generator)[:rows]
    for i in range(0, rows, batch_size):
        idx = order[i : i + batch_size]
        if len(idx) >= min_rows:
            yield idx


def shuffled_steps(n: int, batch_size: int) -> int:
    """Batches `shuffled_batches` yields per epoch."""
    full, rest = divmod(n, batch_size)
    return full + (1 if rest >= 2 else 0)


def balanced_batches(
    sizes: Sequence[int], batch_size: int, generator: torch.Generator, steps: int | None = None
) -> Iterator[tuple[torch.Tensor, ...]]:
    """One epoch of index batches, one of `batch_size` rows per domain, over the largest domain
    (or `steps` steps).

    Smaller domains are reshuffled and cycled, so every step sees batch_size images of each.
    """
    steps = balanced_steps(sizes, batch_size) if steps is None else steps
    streams = []
    for n in sizes:
        reps = math.ceil(steps * batch_size / n)
        order = torch.cat([torch.randperm(n, generator=generator) for _ in range(reps)])
        streams.append(order[: steps * batch_size].view(steps, batch_size))
    yield from zip(*streams, strict=True)


def paired_batches(
    n_s: int, n_t: int, batch_size: int, generator: torch.Generator, steps: int | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(source idx, target idx) batches of equal size: `balanced_batches` of two domains."""
    yield from balanced_batches((n_s, n_t), batch_size, generator, steps)  # type: ignore[misc]


def balanced_steps(sizes: Sequence[int], batch_size: int) -> int:
    """Steps of one `balanced_batches` epoch: the largest domain's full batches (at least 1)."""
    return max(1, max(sizes) // batch_size)
