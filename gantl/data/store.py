"""The Parquet store: one file per domain role and split, the data contract of the pipeline.

Columns: `image` (fixed-size list of uint8, H×W×C in the schema metadata), `label` (int16, −1
where unlabelled), `sample_id`, `origin`. File metadata under the key `gantl` (JSON): domain,
role, split, shape, class names, raw-input hash, the params that made it, notes. Images are
stored as one flat uint8 buffer, so loading a split is a zero-copy reshape, not per-row decoding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from gantl.errors import DataError
from gantl.io import atomic_path

META_KEY = b"gantl"
UNLABELLED = -1


@dataclass(frozen=True)
class PreparedSplit:
    """A split as stored: images uint8 N×H×W×C, labels int64 (−1 unlabelled), ids, metadata."""

    images: np.ndarray
    labels: np.ndarray
    sample_ids: np.ndarray
    origins: np.ndarray
    meta: dict[str, Any]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def has_labels(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Images as float N×C×H×W in [-1, 1] and labels as int64, ready for training."""
        return to_tensor(self.images), torch.from_numpy(self.labels)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N×H×W×C (the store's layout) → float N×C×H×W in [−1, 1] (the models' input)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0).contiguous()


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """The inverse of `to_tensor`: float N×C×H×W in [−1, 1] → uint8 N×H×W×C."""
    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_split(
    path: Path,
    images: np.ndarray,
    labels: np.ndarray | None,
    sample_ids: np.ndarray,
    origins: np.ndarray,
    meta: dict[str, Any],
) -> None:
    """Write one split atomically; `labels=None` stores −1 for every row."""
    n, h, w, c = images.shape
    flat = pa.array(np.ascontiguousarray(images, dtype=np.uint8).reshape(-1), type=pa.uint8())
    image_col = pa.FixedSizeListArray.from_arrays(flat, h * w * c)
    label_arr = np.full(n, UNLABELLED, np.int16) if labels is None else labels.astype(np.int16)
    meta = {**meta, "shape": [h, w, c], "num_rows": n}
    schema = pa.schema(
        [
            pa.field("image", image_col.type, nullable=False),
            pa.field("label", pa.int16(), nullable=False),
            pa.field("sample_id", pa.string(), nullable=False),
            pa.field("origin", pa.string(), nullable=False),
        ],
        metadata={META_KEY: json.dumps(meta, default=str).encode()},
    )
    table = pa.Table.from_arrays(
        [
            image_col,
            pa.array(label_arr),
            pa.array([str(s) for s in sample_ids], pa.string()),
            pa.array([str(o) for o in origins], pa.string()),
        ],
        schema=schema,
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_meta(path: Path) -> dict[str, Any]:
    """The `gantl` metadata of a prepared file, without reading its rows."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: prepared split not found (run the prepare stage first)")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file: {exc}") from None
    raw = (schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise DataError(f"{path}: Parquet file lacks gantl metadata (was it written by prepare?)")
    return json.loads(raw)


def read_split(path: Path) -> PreparedSplit:
    """Read one prepared split into numpy arrays."""
    meta = read_meta(path)
    table = pq.read_table(path)
    expected = {"image", "label", "sample_id", "origin"}
    if missing := expected - set(table.column_names):
        raise DataError(f"{path}: missing column(s) {sorted(missing)}; expected {sorted(expected)}")
    h, w, c = meta["shape"]
    flat = table.column("image").combine_chunks().values.to_numpy(zero_copy_only=False)
    if flat.size != len(table) * h * w * c:
        raise DataError(f"{path}: image column does not hold {len(table)} images of {h}×{w}×{c}")
    return PreparedSplit(
        images=flat.reshape(len(table), h, w, c).copy(),  # writable, owned by numpy
        labels=table.column("label").to_numpy().astype(np.int64),
        sample_ids=np.asarray(table.column("sample_id").to_pylist(), dtype=object),
        origins=np.asarray(table.column("origin").to_pylist(), dtype=object),
        meta=meta,
    )
