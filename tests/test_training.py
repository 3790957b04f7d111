"""Supervised training: it learns, it is reproducible, and checkpoints round-trip safely."""

from __future__ import annotations

import json
from importlib import metadata

import numpy as np
import torch
from sklearn.datasets import load_digits

from gantl.checkpoint import MANIFEST, WEIGHTS, load_classifier, save_checkpoint
from gantl.config import TrainConfig
from gantl.eval.metrics import accuracy, classification_report, predict
from gantl.io import file_sha256
from gantl.methods.source_only import train_classifier
from gantl.models.classifier import Architecture, Classifier


def _digits():
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 8.0 - 1.0  # 0..16 → [-1, 1]
    x = torch.nn.functional.interpolate(x, size=16, mode="bilinear")
    y = torch.tensor(d.target)
    return (x[:1200], y[:1200]), (x[1200:1500], y[1200:1500])


CFG = TrainConfig(epochs=3, batch_size=64, lr=2e-3, weight_decay=0.0, device="cpu")


def test_short_run_lowers_loss_and_learns():
    train, val = _digits()
    result = train_classifier(Architecture("lenet", 1, 16, 10), train, val, CFG)
    losses = [r.train_loss for r in result.history]
    assert losses[-1] < losses[0] * 0.7
    assert result.best_val_acc > 0.8  # uci digits are easy; chance is 0.1
    assert result.best_val_acc == max(r.val_acc for r in result.history)
    assert accuracy(val[1], predict(result.model, val[0])) == result.best_val_acc


def test_same_seed_same_weights():
    train, val = _digits()
    a = train_classifier(Architecture("lenet", 1, 16, 10), train, val, CFG)
    torch.manual_seed(123)  # outside state must not matter
    b = train_classifier(Architecture("lenet", 1, 16, 10), train, val, CFG)
    for (k, va), vb in zip(
        a.model.state_dict().items(), b.model.state_dict().values(), strict=True
    ):
        assert torch.equal(va, vb), k


def test_checkpoint_round_trip_is_safetensors_and_exact(tmp_path):
    torch.manual_seed(0)
    model = Classifier(Architecture("dtn", 3, 16, 10, width=0.25)).eval()
    save_checkpoint(tmp_path, model, {"stage": "pretrain", "metrics": {"best_epoch": 1}})
    assert (tmp_path / WEIGHTS).read_bytes()[:8] != b"PK\x03\x04"  # not a torch zip pickle
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["architecture"]["name"] == "dtn"
    assert manifest["versions"]["torch"] == metadata.version("torch")
    assert manifest["weights_sha256"] == file_sha256(tmp_path / WEIGHTS)
    loaded, _ = load_classifier(tmp_path)
    x = torch.randn(5, 3, 16, 16)
    assert torch.equal(model(x), loaded(x))


def test_classification_report_per_class_and_confusion():
    y_true = np.array([0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    report = classification_report(y_true, y_pred, ["a", "b", "c"])
    assert report["accuracy"] == 0.6
    assert report["per_class_acc"] == {"a": 0.5, "b": 1.0, "c": 0.0}
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
