"""ResNet backbones: shapes on digits and photos, ImageNet normalisation, TLlib's per-layer
learning rates, weights read from files only (never unpickled objects, never downloaded), and
DANN, ADDA and CDAN adapting a ResNet-18 encoder from scratch at small sizes."""

from __future__ import annotations

import pickle

import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import save_file

from gantl.config import AdaptConfig, AddaConfig, CdanConfig, DannConfig, TrainConfig
from gantl.errors import DataError
from gantl.methods.adda import train_adda
from gantl.methods.cdan import train_cdan
from gantl.methods.dann import train_dann
from gantl.methods.source_only import train_classifier
from gantl.models.classifier import (
    Architecture,
    Classifier,
    choose_model,
    load_backbone,
    parameter_groups,
)
from gantl.models.resnet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ResNetEncoder,
    imagenet_weights_path,
)
from gantl.training.data import AdaptationData
from gantl.training.schedules import set_lr


def _resnet18_state(seed: int) -> dict[str, torch.Tensor]:
    """A torchvision ResNet-18 state dict (ImageNet's layout, fc included), seeded."""
    from torchvision.models import resnet18

    torch.manual_seed(seed)
    return {k: v.clone() for k, v in resnet18(weights=None).state_dict().items()}


@pytest.mark.parametrize(
    ("name", "channels", "size", "dim"),
    [
        ("resnet18", 1, 28, 512),
        ("resnet18", 3, 32, 512),
        ("resnet50", 3, 64, 2048),
    ],
)
def test_encoder_features_for_digits_and_photos(name, channels, size, dim):
    encoder = ResNetEncoder(name, channels).eval()
    assert encoder.out_features == dim
    assert encoder(torch.rand(2, channels, size, size) * 2 - 1).shape == (2, dim)


def test_inputs_in_minus_one_to_one_reach_the_net_in_imagenets_normalisation():
    encoder = ResNetEncoder("resnet18", 1)
    seen = []
    encoder.net.conv1.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    encoder.eval()(torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 32, 32))
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    assert seen[0].shape == (2, 3, 32, 32)  # grey, repeated
    torch.testing.assert_close(seen[0][0, :, 0, 0], (0 - mean) / std)  # black
    torch.testing.assert_close(seen[0][1, :, 0, 0], (1 - mean) / std)  # white


def test_auto_reads_photos_as_resnet50_and_digits_as_before():
    assert choose_model("auto", 1, 28) == "lenet"
    assert choose_model("auto", 3, 32) == "dtn"
    assert choose_model("auto", 3, 224) == "resnet50"
    assert choose_model("resnet18", 1, 28) == "resnet18"
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        choose_model("vgg", 3, 224)


def test_a_pretrained_backbone_learns_at_a_tenth_of_the_head():
    model = Classifier(Architecture("resnet18", 3, 32, 5, bottleneck=16, backbone_lr=0.1))
    groups = parameter_groups([model], 0.01, model.arch.backbone_lr)
    assert [g["lr"] for g in groups] == [pytest.approx(0.001), 0.01]
    backbone = {id(p) for p in model.encoder.backbone.parameters()}
    assert {id(p) for p in groups[0]["params"]} == backbone
    everything = [id(p) for g in groups for p in g["params"]]
    assert sorted(everything) == sorted(id(p) for p in model.parameters())  # each once
    optimizer = torch.optim.SGD(groups, lr=0.01)
    set_lr(optimizer, 0.004)  # the annealed schedule keeps the ratio
    assert [g["lr"] for g in optimizer.param_groups] == [pytest.approx(0.0004), 0.004]
    assert len(parameter_groups([Classifier(Architecture("lenet", 1, 28, 5))], 0.01, 0.1)) == 1


def test_one_group_trains_bit_for_bit_as_the_plain_parameter_list():
    def run(params_of) -> list[torch.Tensor]:
        torch.manual_seed(0)
        model = Classifier(Architecture("lenet", 1, 28, 10))
        optimizer = torch.optim.Adam(params_of(model), lr=1e-3, weight_decay=5e-4)
        for step in range(3):
            x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(step))
            optimizer.zero_grad()
            model(x).logsumexp(1).mean().backward()
            optimizer.step()
        return [p.detach().clone() for p in model.parameters()]

    plain = run(lambda m: m.parameters())
    grouped = run(lambda m: parameter_groups([m], 1e-3, m.arch.backbone_lr))
    assert all(torch.equal(a, b) for a, b in zip(plain, grouped, strict=True))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_load_from_a_file_of_tensors(tmp_path, suffix):
    state = _resnet18_state(seed=1)
    path = tmp_path / f"backbone{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save({"module." + k: v for k, v in state.items()}, path)  # a DataParallel save
    model = Classifier(Architecture("resnet18", 3, 32, 7, bottleneck=16))
    assert load_backbone(model, str(path)) == str(path)
    loaded = model.encoder.backbone.net.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    assert model.head.out_features == 7  # ImageNet's fc was left out


class Payload:
    """Unpickling this would run code of the file's choosing."""

    def __reduce__(self):
        return (print, ("unpickled",))


def test_a_pickle_with_objects_is_refused_not_unpickled(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"conv1.weight": Payload()}, protocol=2))
    with pytest.raises(DataError, match=r"evil\.pth: not a weights file"):
        load_backbone(Classifier(Architecture("resnet18", 3, 32, 2)), str(path))
    assert "unpickled" not in capsys.readouterr().out


def test_weights_of_another_network_name_the_file(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(DataError, match=r"other\.pth: not resnet18 weights"):
        load_backbone(Classifier(Architecture("resnet18", 3, 32, 2)), str(path))


def test_imagenet_weights_come_from_the_hub_cache_or_an_error_says_where(tmp_path):
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    try:
        expected = imagenet_weights_path("resnet18")
        assert expected == tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
        model = Classifier(Architecture("resnet18", 3, 32, 2))
        with pytest.raises(DataError) as missing:
            load_backbone(model, "imagenet")
        message = str(missing.value)
        assert str(expected) in message and "download.pytorch.org" in message
        assert "\n" not in message
        expected.parent.mkdir(parents=True)
        torch.save(_resnet18_state(seed=2), expected)
        assert load_backbone(model, "imagenet") == str(expected)
    finally:
        torch.hub.set_dir(previous)


def test_params_name_what_pretrained_accepts():
    assert TrainConfig(model="resnet50", pretrained="imagenet").pretrained == "imagenet"
    assert TrainConfig(model="resnet18", pretrained="w/backbone.safetensors").backbone_lr == 0.1
    with pytest.raises(ValidationError, match="must be 'none', 'imagenet' or a path"):
        TrainConfig(model="resnet18", pretrained="weights.bin")
    with pytest.raises(ValidationError, match="weights are for ResNets, not model 'lenet'"):
        TrainConfig(model="lenet", pretrained="imagenet")


def _squares(n: int, invert: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Two classes of 3×24×24 images: a bright square left (0) or right (1) on dark."""
    g = torch.Generator().manual_seed(int(invert))
    y = torch.arange(n) % 2
    x = torch.full((n, 3, 24, 24), -1.0) + 0.1 * torch.randn(n, 3, 24, 24, generator=g)
    for i, label in enumerate(y.tolist()):
        x[i, :, 8:16, 2 + 12 * label : 10 + 12 * label] = 1.0
    return (-x if invert else x), y


def test_resnet18_from_scratch_trains_and_adapts_with_dann_adda_and_cdan(tmp_path):
    x_s, y_s = _squares(48, invert=False)
    x_t, y_t = _squares(48, invert=True)
    arch = Architecture("resnet18", 3, 24, 2, bottleneck=32)
    cfg = TrainConfig(model="resnet18", epochs=3, batch_size=16, lr=1e-3, device="cpu")
    source = train_classifier(arch, (x_s, y_s), (x_s[:16], y_s[:16]), cfg, seed=0)
    assert source.best_val_acc == 1.0  # the task is easy; the network learns it
    data = AdaptationData(x_s, y_s, x_t, x_s[:16], y_s[:16], x_t[:16], y_t[:16])
    adapt = AdaptConfig(validator="neg_entropy", validation_samples=16)
    for train, method_cfg in [
        (train_dann, DannConfig(epochs=1, batch_size=16, device="cpu")),
        (train_adda, AddaConfig(epochs=1, batch_size=16, device="cpu")),
        (train_cdan, CdanConfig(epochs=1, batch_size=16, device="cpu")),
    ]:
        result = train(source.model, data, method_cfg, adapt, 0)
        assert isinstance(result.selected.encoder.backbone, ResNetEncoder)
        assert result.selected(x_t[:4]).shape == (4, 2)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The tiny protocol's prepared splits (16-px RGB digits, 400 source train images)."""
    import yaml

    from gantl.config import params_from_dict
    from gantl.stages.prepare import prepare
    from tests.conftest import TINY_PARAMS

    root = tmp_path_factory.mktemp("resnet")
    params = params_from_dict(yaml.safe_load(TINY_PARAMS))
    prepare(params, root / "prepared")
    return root, params


def test_the_pretrain_stage_trains_and_saves_a_resnet(prepared, tmp_path):
    from gantl.checkpoint import load_classifier
    from gantl.stages.pretrain import pretrain

    root, params = prepared
    path = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in _resnet18_state(seed=3).items()}, str(path))
    cfg = params.pretrain.model_copy(
        update={"model": "resnet18", "pretrained": str(path), "epochs": 1, "bottleneck": 32}
    )
    pretrain(params.model_copy(update={"pretrain": cfg}), root / "prepared", tmp_path / "source")
    model, manifest = load_classifier(tmp_path / "source" / "seed_0")
    assert manifest["architecture"]["name"] == "resnet18"
    assert manifest["architecture"]["backbone_lr"] == 0.1
    assert isinstance(model.encoder.backbone, ResNetEncoder)


def test_pretrained_weights_for_a_digit_network_stop_the_stage_with_one_line(prepared, tmp_path):
    from gantl.errors import ConfigError
    from gantl.stages.pretrain import pretrain

    root, params = prepared
    cfg = params.pretrain.model_copy(update={"model": "auto", "pretrained": "imagenet"})
    with pytest.raises(ConfigError, match="weights are for ResNets, but model 'auto' is dtn"):
        pretrain(params.model_copy(update={"pretrain": cfg}), root / "prepared", tmp_path / "s")
    assert not (tmp_path / "s").exists()
