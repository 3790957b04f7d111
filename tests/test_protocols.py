"""The named protocols of configs/ against the real files in ../shared/data."""

from __future__ import annotations

import numpy as np

from gantl.config import load_params
from gantl.data.store import read_split
from gantl.stages.prepare import prepare
from tests.conftest import ROOT


def _params(name: str, shared_data):
    params = load_params(ROOT / "configs" / f"{name}.yaml")
    experiment = params.experiment.model_copy(update={"data_dir": shared_data})
    return params.model_copy(update={"experiment": experiment})


def test_mnist_usps_adda_protocol_sizes_and_shapes(tmp_path, shared_data):
    summary = prepare(_params("mnist-usps-adda", shared_data), tmp_path)
    assert summary["shape"] == [28, 28, 1]
    assert summary["source"]["counts"] == {"train": 2000, "val": 500, "test": 5000}
    assert summary["target"]["counts"] == {"train": 1800, "val": 729, "test": 2007}
    assert any("10,000 'test' images were split" in n for n in summary["source"]["notes"])
    source_train = read_split(tmp_path / "source" / "train.parquet")
    source_test = read_split(tmp_path / "source" / "test.parquet")
    # the carved MNIST train and test never share an image
    assert not set(source_train.sample_ids) & set(source_test.sample_ids)
    target_test = read_split(tmp_path / "target" / "test.parquet")
    assert target_test.meta["domain"] == "usps" and target_test.images.shape == (2007, 28, 28, 1)
    np.testing.assert_array_equal(np.bincount(target_test.labels, minlength=10).sum(), 2007)
    assert target_test.meta["raw_sha256"] == summary["target"]["raw_sha256"]


def test_usps_mnist_adda_protocol_sizes(tmp_path, shared_data):
    summary = prepare(_params("usps-mnist-adda", shared_data), tmp_path)
    assert summary["source"]["counts"]["train"] == 1800
    assert summary["target"]["counts"] == {"train": 2000, "val": 500, "test": 5000}
