"""Resumable training: every tensor a run needs to continue, in one safetensors file.

A long GAN run writes its state every few epochs; after an interruption the same call finds it
and continues. Nothing is pickled: module weights, optimiser moments, the batch-order RNG and any
extra tensors (an image pool) go to `state.safetensors`, and the small rest (epoch, history,
optimiser hyper-parameters, a fingerprint of the run's config and inputs) to `progress.json`.
A state whose fingerprint differs from the current run's is ignored, never silently resumed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from gantl.io import atomic_dir, save_safetensors

log = logging.getLogger("gantl")

STATE = "state.safetensors"
PROGRESS = "progress.json"


@dataclass
class Resumed:
    epoch: int  # last completed epoch
    history: list[dict]
    tensors: dict[str, torch.Tensor]  # the `extra` tensors saved with the state


def _optimizer_tensors(name: str, opt: torch.optim.Optimizer) -> tuple[dict, list]:
    sd = opt.state_dict()
    tensors = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if not isinstance(value, torch.Tensor):
                value = torch.tensor(value)
            tensors[f"optim.{name}.{pid}.{key}"] = value.detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def _load_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict, groups: list) -> None:
    prefix = f"optim.{name}."
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(pid), {})[field] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_state(
    directory: Path,
    *,
    fingerprint: str,
    epoch: int,
    history: list[dict],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write the whole state atomically: an interruption mid-write keeps the previous one."""
    tensors: dict[str, torch.Tensor] = {"rng": generator.get_state()}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module.{name}.{key}"] = value.detach().cpu().contiguous()
    groups = {}
    for name, opt in optimizers.items():
        opt_tensors, groups[name] = _optimizer_tensors(name, opt)
        tensors.update(opt_tensors)
    for key, value in (extra or {}).items():
        tensors[f"extra.{key}"] = value.detach().cpu().contiguous()
    progress = {"fingerprint": fingerprint, "epoch": epoch, "history": history, "groups": groups}
    with atomic_dir(Path(directory)) as tmp:
        save_safetensors(tensors, tmp / STATE)
        (tmp / PROGRESS).write_text(json.dumps(progress, indent=1))


def load_state(
    directory: Path,
    *,
    fingerprint: str,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
) -> Resumed | None:
    """Restore a saved state into the given objects; None when there is none for this run.

    A state that cannot be read whole (a truncated file, a foreign one) is set aside, renamed
    beside itself, and the objects are left as they were, so training starts afresh instead of
    failing on every rerun.
    """
    directory = Path(directory)
    if not (directory / PROGRESS).is_file() or not (directory / STATE).is_file():
        return None
    before = _snapshot(modules, optimizers, generator)
    try:
        progress = json.loads((directory / PROGRESS).read_text())
        if progress.get("fingerprint") != fingerprint:
            log.info("%s: saved state is of another config or input; starting afresh", directory)
            return None
        return _restore(directory, progress, modules, optimizers, generator)
    except (SafetensorError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        _snapshot_back(before, modules, optimizers, generator)
        aside = directory.with_name(f"{directory.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(directory, aside)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning(
            "%s: unreadable resume state (%s); set aside as %s, training afresh",
            directory,
            reason,
            aside.name,
        )
        return None


def _restore(
    directory: Path,
    progress: dict[str, Any],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
) -> Resumed:
    tensors = load_file(str(directory / STATE))
    for name, module in modules.items():
        prefix = f"module.{name}."
        module.load_state_dict(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        )
    for name, opt in optimizers.items():
        _load_optimizer(name, opt, tensors, progress["groups"][name])
    generator.set_state(tensors["rng"])
    extra = {k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")}
    return Resumed(epoch=int(progress["epoch"]), history=progress["history"], tensors=extra)


def _snapshot(
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
) -> tuple[dict, dict, torch.Tensor]:
    """Copies of everything load_state may change, to undo a restore that fails half-way."""
    return (
        {n: copy.deepcopy(m.state_dict()) for n, m in modules.items()},
        {n: copy.deepcopy(o.state_dict()) for n, o in optimizers.items()},
        generator.get_state(),
    )


def _snapshot_back(
    before: tuple[dict, dict, torch.Tensor],
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer],
    generator: torch.Generator,
) -> None:
    module_states, optimizer_states, rng = before
    for name, module in modules.items():
        module.load_state_dict(module_states[name])
    for name, opt in optimizers.items():
        opt.load_state_dict(optimizer_states[name])
    generator.set_state(rng)


def fingerprint(*parts: Any) -> str:
    """A stable digest of JSON-able run settings and input hashes."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Resumable:
    """One training run's state and where it is kept: `load` before the first epoch, `save`
    every few epochs. Without a directory both do nothing."""

    directory: Path | None
    fingerprint: str  # the run's config, seed, data and run id (`fingerprint`)
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    generator: torch.Generator

    def load(self) -> Resumed | None:
        if self.directory is None:
            return None
        return load_state(
            self.directory,
            fingerprint=self.fingerprint,
            modules=self.modules,
            optimizers=self.optimizers,
            generator=self.generator,
        )

    def save(self, epoch: int, history: list[dict], extra: dict[str, torch.Tensor]) -> None:
        if self.directory is None:
            return
        save_state(
            self.directory,
            fingerprint=self.fingerprint,
            epoch=epoch,
            history=history,
            modules=self.modules,
            optimizers=self.optimizers,
            generator=self.generator,
            extra=extra,
        )
