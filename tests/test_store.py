"""The Parquet contract: round trip, metadata, schema."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from gantl.data.store import read_meta, read_split, write_split
from gantl.errors import DataError


def _write(path, labels=True, n=50, shape=(8, 8, 3)):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
    y = rng.integers(0, 10, n) if labels else None
    ids = np.array([f"d/train/{i}" for i in range(n)], dtype=object)
    origins = np.array([f"raw.bin#{i}" for i in range(n)], dtype=object)
    write_split(path, images, y, ids, origins, {"domain": "d", "class_names": list("0123456789")})
    return images, y, ids, origins


def test_round_trip_keeps_pixels_labels_ids_and_metadata(tmp_path):
    path = tmp_path / "train.parquet"
    images, y, ids, origins = _write(path)
    split = read_split(path)
    np.testing.assert_array_equal(split.images, images)
    np.testing.assert_array_equal(split.labels, y)
    assert list(split.sample_ids) == list(ids)
    assert list(split.origins) == list(origins)
    assert split.meta["shape"] == [8, 8, 3]
    assert split.meta["num_rows"] == 50
    assert read_meta(path)["domain"] == "d"
    schema = pq.read_schema(path)
    assert str(schema.field("label").type) == "int16"
    assert schema.field("image").type.list_size == 8 * 8 * 3


def test_unlabelled_rows_are_minus_one(tmp_path):
    path = tmp_path / "t.parquet"
    _write(path, labels=False)
    split = read_split(path)
    assert (split.labels == -1).all()
    assert not split.has_labels


def test_tensors_are_nchw_in_minus_one_to_one(tmp_path):
    path = tmp_path / "t.parquet"
    images, *_ = _write(path)
    x, labels = read_split(path).tensors()
    assert x.shape == (50, 3, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    assert torch.allclose(
        x[3, 1, 2, 5], torch.tensor(images[3, 2, 5, 1] / 127.5 - 1, dtype=torch.float32)
    )
    assert labels.dtype == torch.int64


def test_missing_or_foreign_files_fail_clearly(tmp_path):
    with pytest.raises(DataError, match="prepared split not found"):
        read_split(tmp_path / "nope.parquet")
    other = tmp_path / "other.parquet"
    import pyarrow as pa

    pq.write_table(pa.table({"a": [1, 2]}), other)
    with pytest.raises(DataError, match="lacks gantl metadata"):
        read_split(other)
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"not parquet")
    with pytest.raises(DataError, match=r"junk\.parquet: not a readable Parquet file"):
        read_split(junk)
