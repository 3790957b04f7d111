"""A source-vs-target classifier whose features judge how target-like translations look.

The source classifier cannot judge style: it was trained to read digits the same whatever their
colour, contrast or background (`pretrain.augment: strong` mixes RGB channels and inverts), so
its features barely move when a translator paints MNIST-M's backgrounds, and a FID on them
ranks a translator's epochs by stroke shape rather than by style. This network is trained for
the opposite job, telling the two domains apart from unlabelled images only, so its penultimate
features see exactly what differs between them; FID on those features (`dom_fid`) falls as
translations take on the target's look. No label of either domain reaches it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from gantl.models.classifier import Architecture, Classifier


def train_domain_judge(
    x_s: torch.Tensor,
    x_t: torch.Tensor,
    name: str,
    seed: int,
    steps: int = 200,
    batch_size: int = 64,
    lr: float = 1e-3,
    width: float = 0.5,
) -> Classifier:
    """A `name` (LeNet or DTN) network trained for `steps` Adam steps to output 0 on source
    images and 1 on target images, `batch_size` of each per step, seeded; returned in eval mode.

    Each step draws a fresh batch of each domain, so the judge sees as much of both domains as
    the steps allow, whatever their sizes.
    """
    _, c, h, _ = x_s.shape
    arch = Architecture(name=name, in_channels=c, image_size=h, num_classes=2, width=width)
    g = torch.Generator().manual_seed(seed)
    labels = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)]).long()
    with torch.random.fork_rng(devices=[]):  # init and dropout draw from the seed alone
        torch.manual_seed(seed)
        judge = Classifier(arch).train()
        optimiser = torch.optim.Adam(judge.parameters(), lr=lr)
        for _ in range(steps):
            i = torch.randint(len(x_s), (batch_size,), generator=g)
            j = torch.randint(len(x_t), (batch_size,), generator=g)
            loss = F.cross_entropy(judge(torch.cat([x_s[i], x_t[j]])), labels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return judge.eval()


def judge_accuracy(judge: nn.Module, x_s: torch.Tensor, x_t: torch.Tensor) -> float:
    """Share of held-out images of both domains the judge assigns to the right one."""
    with torch.no_grad():
        right = (judge(x_s).argmax(1) == 0).sum() + (judge(x_t).argmax(1) == 1).sum()
    return float(right) / (len(x_s) + len(x_t))
