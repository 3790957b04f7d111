"""Images per second of one DANN step on a ResNet backbone, with mixed precision on and off.

The step is gantl.methods.dann's gradient-reversal step (features of a source and a target
batch in one pass, classifier loss on the source half, domain loss behind the reversal
layer), run through gantl.training.fast_path as the training loops run it: bf16/fp16 autocast,
channels_last and pinned non-blocking copies on CUDA. On a CPU the fast path is off, so only the
fp32 figure is measured. Synthetic images: this measures the step, not the data. Usage:

    .venv/bin/python benchmarks/resnet_throughput.py [--model resnet50] [--size 224]
        [--batch 32] [--steps 20] [--out benchmarks/results/resnet_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gantl.checkpoint import git_commit
from gantl.methods.gan_losses import domain_loss
from gantl.models.classifier import Architecture, Classifier
from gantl.models.discriminator import DomainDiscriminator
from gantl.models.grl import grad_reverse
from gantl.runtime import resolve_device
from gantl.training.fast_path import FastPath


def measure(model_name: str, size: int, batch: int, steps: int, amp: bool, device) -> dict:
    """Images (source + target) per second over `steps` timed steps after 3 warm-up steps."""
    torch.manual_seed(0)
    arch = Architecture(model_name, 3, size, 65, bottleneck=256)  # Office-Home's 65 classes
    model = Classifier(arch).to(device)
    disc = DomainDiscriminator(model.encoder.out_features, 1024).to(device)
    fast = FastPath(device, amp=amp)
    trained = fast.prepare(model)
    params = [*model.parameters(), *disc.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    x = torch.rand(2 * batch, 3, size, size) * 2 - 1
    y = torch.randint(0, 65, (batch,))

    def step() -> None:
        xb, yb = fast.batch(x), fast.labels(y)
        with fast.autocast():
            f = trained.encoder(xb)  # both domains in one pass, as dann_step
            loss = F.cross_entropy(trained.head(f[:batch]), yb)
            d = disc(grad_reverse(f, 1.0))
            loss = loss + domain_loss(d[:batch], d[batch:])
        optimizer.zero_grad(set_to_none=True)
        fast.step(loss, optimizer)

    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {
        "amp": str(fast.dtype).removeprefix("torch.") if fast.dtype else "off (fp32)",
        "images_per_s": round(2 * batch * steps / seconds, 1),
        "seconds_per_step": round(seconds / steps, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50", choices=["resnet18", "resnet50"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32, help="per domain")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/resnet_throughput.json")
    )
    args = parser.parse_args()
    device = resolve_device(args.device)
    modes = [True, False] if device.type == "cuda" else [False]
    runs = [measure(args.model, args.size, args.batch, args.steps, amp, device) for amp in modes]
    for run in runs:
        print(
            f"{args.model} DANN step, {args.size}px, 2×{args.batch}: {run['amp']:>10}  "
            f"{run['images_per_s']:8.1f} images/s"
        )
    record = {
        "model": args.model,
        "size": args.size,
        "batch_per_domain": args.batch,
        "steps": args.steps,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "machine": platform.machine(),
        "commit": git_commit(),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
