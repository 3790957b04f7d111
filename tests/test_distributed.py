"""Data-parallel training under torchrun (gloo, CPU): 2 processes at batch B take the steps
1 process takes at batch 2B, and `gantl stage pretrain --nproc 2` writes its outputs once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from gantl.training.distributed import torchrun_command
from tests.conftest import ROOT, TINY_PARAMS, run

pytestmark = pytest.mark.slow

# LeNet on 64 random 16-px images, 2 epochs of 4 global batches. Dropout is switched off: its
# masks are drawn per process, so only a network without it (and, on CPU, without batch norm,
# which torch synchronises on GPUs only) can match one process bit for bit. Each script saves
# rank 0's weights and its per-epoch figures (without the seconds).
PRELUDE = """
import json, sys
import torch
from safetensors.torch import save_file
from gantl.config import AdaptConfig, DannConfig, TrainConfig
from gantl.methods.dann import train_dann
from gantl.methods.source_only import train_classifier
from gantl.models.classifier import Architecture, Classifier
from gantl.training import distributed
from gantl.training.data import AdaptationData

torch.nn.Dropout.forward = torch.nn.Dropout2d.forward = lambda self, x: x
batch, out = int(sys.argv[1]), sys.argv[2]
distributed.init_from_env()
g = torch.Generator().manual_seed(0)
x, y = torch.rand(64, 1, 16, 16, generator=g) * 2 - 1, torch.arange(64) % 10
arch = Architecture("lenet", 1, 16, 10)
rows = [0]  # images this process trained on (the first conv's training inputs)


def count(module, args):
    if isinstance(module, torch.nn.Conv2d) and module.in_channels == 1 and module.training:
        rows[0] += len(args[0])


torch.nn.modules.module.register_module_forward_pre_hook(count)
"""
TRAIN = {
    "pretrain": """
cfg = TrainConfig(model="lenet", epochs=2, batch_size=batch, lr=1e-3, device="cpu")
result = train_classifier(arch, (x, y), (x[:16], y[:16]), cfg)
model, history = result.model, result.history_dicts()
""",
    "dann": """
x_t = -x.flip(0)
torch.manual_seed(0)
data = AdaptationData(x, y, x_t, x[:16], y[:16], x_t[:16], y[:16])
cfg = DannConfig(epochs=2, batch_size=batch, device="cpu")
adapt = AdaptConfig(validator="neg_entropy", validation_samples=16)
result = train_dann(Classifier(arch), data, cfg, adapt, 0)
model, history = result.selected, result.history
""",
}
SAVE = """
if distributed.is_main():
    save_file(model.state_dict(), out + ".safetensors")
    figures = [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    open(out + ".json", "w").write(json.dumps({"figures": figures, "rows": rows[0]}))
distributed.shutdown()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


@pytest.mark.parametrize("method", sorted(TRAIN))
def test_two_processes_at_batch_b_take_the_steps_of_one_at_2b(tmp_path, method):
    script = tmp_path / "train.py"
    script.write_text(PRELUDE + TRAIN[method] + SAVE)
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run([sys.executable, str(script), "16", str(one)], env=_env(), check=True)
    torchrun = torchrun_command(2, [])[: -len(["-m", "gantl.cli"])]
    subprocess.run([*torchrun, str(script), "8", str(two)], env=_env(), check=True)
    single, parallel = load_file(f"{one}.safetensors"), load_file(f"{two}.safetensors")
    assert single.keys() == parallel.keys()
    for key, value in single.items():
        torch.testing.assert_close(parallel[key], value, rtol=1e-5, atol=1e-6, msg=key)
    said_one = json.loads(Path(f"{one}.json").read_text())
    said_two = json.loads(Path(f"{two}.json").read_text())  # figures over both processes
    assert 2 * said_two["rows"] == said_one["rows"] > 0  # each process trained on its half
    for epoch_two, epoch_one in zip(said_two["figures"], said_one["figures"], strict=True):
        assert epoch_two.keys() == epoch_one.keys()
        for key, value in epoch_one.items():
            assert epoch_two[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_gantl_stage_pretrain_nproc_2_writes_one_checkpoint(tmp_path):
    params = yaml.safe_load(TINY_PARAMS)
    params["pretrain"] |= {"epochs": 1, "augment": "none"}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run(["gantl", "stage", "prepare", "--quiet"], tmp_path)
    out = run(["gantl", "stage", "pretrain", "--nproc", "2"], tmp_path)
    from gantl.checkpoint import load_classifier

    model, manifest = load_classifier(tmp_path / "models" / "source" / "seed_0")
    assert manifest["stage"] == "pretrain" and model.arch.num_classes == 10
    assert (tmp_path / "plots" / "live" / "pretrain" / "source_only" / "metrics.json").is_file()
    assert out.stdout.count("pretrain seed 0: best epoch") <= 1  # one process speaks
    assert not list((tmp_path / ".gantl" / "staging").glob("txn-*"))  # nothing left behind


def test_nproc_is_refused_for_stages_that_do_not_train_data_parallel(tmp_path):
    (tmp_path / "params.yaml").write_text(TINY_PARAMS)
    result = run(["gantl", "stage", "evaluate", "--nproc", "2"], tmp_path, check=False)
    assert result.returncode == 2
    said = result.stdout + result.stderr
    assert "--nproc: data-parallel training runs the pretrain, oracle and adapt (DANN) " in said
    result = run(["gantl", "stage", "adapt", "--method", "adda", "--nproc", "2"], tmp_path, False)
    assert result.returncode == 2
    assert "--nproc: adapt trains data-parallel with dann, not adda" in result.stderr


def test_runtime_nproc_in_params_is_the_default_of_the_training_stages(tmp_path):
    from gantl.cli import StageName, _processes

    params = yaml.safe_load(TINY_PARAMS) | {"runtime": {"nproc": 2}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert _processes(StageName.pretrain, None, tmp_path / "params.yaml") == 2
    assert _processes(StageName.oracle, 3, tmp_path / "params.yaml") == 3  # --nproc wins
    assert _processes(StageName.evaluate, None, tmp_path / "params.yaml") == 1
    assert _processes(StageName.adapt, None, tmp_path / "params.yaml", "cyclegan+dann") == 2
    assert _processes(StageName.adapt, None, tmp_path / "params.yaml", "adda") == 1  # one
    (tmp_path / "old.yaml").write_text(TINY_PARAMS)  # a params file from before `runtime`
    assert _processes(StageName.pretrain, None, tmp_path / "old.yaml") == 1
