"""The GPU fast path leaves CPU training bit for bit as it was; on CUDA (marked `cuda`, run by
benchmarks/gpu_check.sh) it trains in mixed precision with channels_last, and compiled."""

from __future__ import annotations

import pytest
import torch

from gantl.config import RuntimeConfig, TrainConfig
from gantl.methods.source_only import train_classifier
from gantl.models.classifier import Architecture, Classifier
from gantl.training.fast_path import FastPath

needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh runs it)"
)


def _data(n: int = 48, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, size, size, generator=g) * 2 - 1, torch.arange(n) % 10


def _train(runtime: RuntimeConfig | None, device: str = "cpu", model: str = "lenet"):
    x, y = _data()
    cfg = TrainConfig(model=model, epochs=2, batch_size=16, device=device)
    arch = Architecture(model, 1, 16, 10)
    return train_classifier(arch, (x, y), (x[:16], y[:16]), cfg, seed=0, runtime=runtime)


def test_on_cpu_every_step_is_the_identity():
    fast = FastPath(torch.device("cpu"), amp=True, compile=True)
    assert fast.dtype is None and fast.scaler is None and not fast.compile
    model = Classifier(Architecture("lenet", 1, 16, 10))
    assert fast.prepare(model) is model
    x = torch.randn(4, 1, 16, 16)
    assert torch.equal(fast.batch(x), x) and fast.batch(x).device.type == "cpu"
    with fast.autocast():
        assert (x.flatten(1) @ x.flatten(1).T).dtype == torch.float32


def test_cpu_training_with_the_fast_path_on_is_bit_identical():
    plain = _train(None)
    on = _train(RuntimeConfig(amp=True, compile=True))
    off = _train(RuntimeConfig(amp=False))

    def figures(result) -> list[dict]:  # every per-epoch figure but the seconds
        return [{k: v for k, v in h.items() if k != "seconds"} for h in result.history_dicts()]

    for result in (on, off):
        assert figures(result) == figures(plain)
        for a, b in zip(plain.model.parameters(), result.model.parameters(), strict=True):
            assert torch.equal(a, b)


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("compile", [False, True])
def test_cuda_trains_in_mixed_precision_with_fp32_weights(compile):
    fast = FastPath(torch.device("cuda"), amp=True)
    assert fast.dtype in (torch.bfloat16, torch.float16)
    result = _train(RuntimeConfig(amp=True, compile=compile), device="cuda", model="resnet18")
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    assert all(torch.isfinite(torch.tensor(h["train_loss"])) for h in result.history_dicts())
    assert result.device.startswith("cuda")


@pytest.mark.cuda
@needs_cuda
def test_cuda_mixed_precision_learns_what_fp32_learns():
    amp = _train(RuntimeConfig(amp=True), device="cuda")
    fp32 = _train(RuntimeConfig(amp=False), device="cuda")
    assert abs(amp.history[-1].train_loss - fp32.history[-1].train_loss) < 0.1
