"""Supervised training of F + C on one labelled domain.

Source-only (train on source labels, test on target) is the baseline every adaptation method
must beat; the same function trained on target labels is the oracle, the upper bound. Data are
in-memory tensors: a batch is an index into them, with no per-item Python work in the loop.
The returned model is the epoch with the best validation accuracy on the *training* domain's
own held-out split, so no target label is ever used for source-only selection.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from gantl.config import RuntimeConfig, TrainConfig
from gantl.data.augment import augment_batch
from gantl.eval.metrics import accuracy, predict
from gantl.models.classifier import Architecture, Classifier, load_backbone, parameter_groups
from gantl.runtime import resolve_device, seed_everything
from gantl.training.batches import shuffled_batches
from gantl.training.distributed import all_sum, data_parallel, shard, world
from gantl.training.fast_path import FastPath

log = logging.getLogger("gantl")


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    train_acc: float
    val_acc: float
    seconds: float


@dataclass(frozen=True)
class TrainResult:
    model: Classifier  # weights of the selected epoch, on CPU
    best_epoch: int
    best_val_acc: float
    history: list[EpochRecord]
    device: str
    seconds: float

    def history_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.history]


def train_classifier(
    arch: Architecture,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    cfg: TrainConfig,
    seed: int = 0,
    on_step: Callable[[], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    epoch_rows: int | None = None,
    runtime: RuntimeConfig | None = None,
) -> TrainResult:
    """Build `arch`, minimise cross-entropy with Adam, keep the epoch with the best `val` accuracy.

    train, val: (x N×C×H×W float in [-1, 1], y N int64). `epoch_rows`: rows an epoch visits
    when `train` holds several views of each image (default: all of them). `runtime`: the
    GPU fast path's switches (default: mixed precision on CUDA, no compile).
    """
    generator = seed_everything(seed)  # before the model exists: its init is seeded too
    model = Classifier(arch)
    if cfg.pretrained != "none":
        log.info("starting from the weights in %s", load_backbone(model, cfg.pretrained))
    device = resolve_device(cfg.device)
    x_train, y_train = train
    x_val, y_val = val
    if len(x_train) == 0:
        raise ValueError("training split is empty")
    model = model.to(device)
    runtime = runtime or RuntimeConfig()
    fast = FastPath(device, amp=runtime.amp, compile=runtime.compile)  # identity off CUDA
    trained = fast.prepare(data_parallel(model, device))  # `model` itself on one CPU process
    processes = world()[1]
    groups = parameter_groups([model], cfg.lr, arch.backbone_lr)
    optimizer = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    best_state, best_acc, best_epoch = None, -1.0, 0
    history: list[EpochRecord] = []
    start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        # one global batch of processes × batch_size rows; each process trains on its share
        batches = shuffled_batches(
            len(x_train), cfg.batch_size * processes, generator, epoch_rows, min_rows=2 * processes
        )
        for idx in batches:
            # 1. prepare batch
            x, y = x_train[idx], y_train[idx]
            x = fast.batch(shard(augment_batch(x, cfg.augment, generator)))
            y = fast.labels(shard(y))
            # 2. update F and C
            with fast.autocast():
                logits = trained(x)
                loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            fast.step(loss, optimizer)
            # 3. log
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            if on_step is not None:
                on_step()
        loss_sum, correct, seen = all_sum([loss_sum, correct, seen])  # over the processes
        val_acc = accuracy(y_val, predict(model, x_val, device=device)) if len(x_val) else 0.0
        record = EpochRecord(
            epoch=epoch,
            train_loss=loss_sum / max(1, seen),
            train_acc=correct / max(1, seen),
            val_acc=val_acc,
            seconds=time.perf_counter() - t0,
        )
        history.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if val_acc > best_acc:
            best_acc, best_epoch = val_acc, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
    model = model.cpu()
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(
        model=model,
        best_epoch=best_epoch,
        best_val_acc=best_acc,
        history=history,
        device=str(device),
        seconds=time.perf_counter() - start,
    )
