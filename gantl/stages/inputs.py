"""Reading an adaptation run's tensors from the prepared (and translated) Parquet splits."""

from __future__ import annotations

from pathlib import Path

import torch

from gantl.data.store import read_meta, read_split
from gantl.stages.paths import split_path
from gantl.training.data import AdaptationData


def load_adaptation_data(
    prepared: Path,
    with_target_val_labels: bool = True,
    translated: Path | None = None,
    mix: bool = False,
    with_target_test: bool = False,
) -> AdaptationData:
    """Source train/val with labels, target train without, target val (labels: upper bound).

    With `translated` (data/translated/<gan>), the source splits are the translated ones, or,
    with `mix`, the original and translated images together; either way an epoch visits as
    many source rows as there are source images (`AdaptationData.source_images`).
    `with_target_test` adds the labelled target test split for `adapt.trace_test` (recorded,
    never used for a choice).
    """
    source_dirs = [Path(prepared) / "source"]
    if translated is not None:
        source_dirs = [*source_dirs, Path(translated)] if mix else [Path(translated)]
    parts = {
        name: [read_split(d / f"{name}.parquet").tensors() for d in source_dirs]
        for name in ("train", "val")
    }
    x_s, y_s = (torch.cat(t) for t in zip(*parts["train"], strict=True))
    x_s_val, y_s_val = (torch.cat(t) for t in zip(*parts["val"], strict=True))
    t_train, t_val = (read_split(split_path(prepared, "target", s)) for s in ("train", "val"))
    x_t_val, y_t_val = t_val.tensors()
    source_train = split_path(prepared, "source", "train")
    images = read_meta(source_train)["num_rows"] if translated is not None else None
    test = read_split(split_path(prepared, "target", "test")) if with_target_test else None
    x_t_test, y_t_test = test.tensors() if test is not None and test.has_labels else (None, None)
    return AdaptationData(
        x_s=x_s,
        y_s=y_s,
        x_t=t_train.tensors()[0],  # the target train labels stop here
        x_s_val=x_s_val,
        y_s_val=y_s_val,
        x_t_val=x_t_val,
        y_t_val=y_t_val if with_target_val_labels and t_val.has_labels else None,
        x_t_test=x_t_test,
        y_t_test=y_t_test,
        source_images=images,
    )
