"""Classification metrics on a target split: accuracy, per-class accuracy, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from torch import nn


@torch.no_grad()
def predict_logits(
    model: nn.Module, x: torch.Tensor, batch_size: int = 512, device: torch.device | None = None
) -> torch.Tensor:
    """Logits per row of `x` (model in eval mode, batches moved to `device`), on the CPU."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = [model(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0)


def predict(
    model: nn.Module, x: torch.Tensor, batch_size: int = 512, device: torch.device | None = None
) -> torch.Tensor:
    """Predicted class per row of `x`."""
    if len(x) == 0:
        return torch.empty(0, dtype=torch.long)
    return predict_logits(model, x, batch_size, device).argmax(1)


def accuracy(y_true: torch.Tensor | np.ndarray, y_pred: torch.Tensor | np.ndarray) -> float:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float((y_true == y_pred).mean()) if len(y_true) else float("nan")


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str]
) -> dict:
    """Accuracy, per-class accuracy (recall) and the confusion matrix (rows: true class)."""
    labels = list(range(len(class_names)))
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    support = cm.sum(axis=1)
    per_class = {
        name: (float(cm[i, i] / support[i]) if support[i] else None)
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": accuracy(y_true, y_pred),
        "n": len(y_true),
        "per_class_acc": per_class,
        "confusion_matrix": cm.tolist(),
    }
