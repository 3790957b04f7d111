"""ResNet backbones (He et al. 2016) from torchvision, as TLlib and DomainBed adapt photos.

The encoder is torchvision's ResNet with its ImageNet classifier (`fc`) removed, so it ends in
global average pooling: 512-d features for ResNet-18, 2048-d for ResNet-50. TLlib's
`ImageClassifier` puts a bottleneck (fc → BatchNorm) and the head after it: gantl's
`Architecture.bottleneck` and `head` do the same for every backbone.

Images reach every gantl network in [-1, 1] with 1 or 3 channels; this encoder repeats a grey
channel three times and maps [-1, 1] to ImageNet's normalisation (mean/std per channel), so
ImageNet weights see what they were trained on and the data contract stays one for all models.

`pretrained` weights are read from a file and never downloaded: torchvision's ImageNet file in
the local torch hub cache (`imagenet`), or a `.safetensors` / `.pth` file of the user's. A
`.pth` is read with `weights_only=True`, which refuses pickled objects other than tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from torch import nn
from torchvision import models as tv

from gantl.errors import DataError

ResNetName = Literal["resnet18", "resnet50"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's constructor, the ImageNet weights TLlib's tables used (V1), feature size
RESNETS = {
    "resnet18": (tv.resnet18, tv.ResNet18_Weights.IMAGENET1K_V1, 512),
    "resnet50": (tv.resnet50, tv.ResNet50_Weights.IMAGENET1K_V1, 2048),
}
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")


class ResNetEncoder(nn.Module):
    """x: N×C×S×S in [-1, 1] (C = 1 or 3) → N×512 (ResNet-18) or N×2048 (ResNet-50)."""

    def __init__(self, name: ResNetName, in_channels: int = 3) -> None:
        super().__init__()
        if name not in RESNETS:
            raise ValueError(f"unknown ResNet {name!r}; expected one of {sorted(RESNETS)}")
        if in_channels not in (1, 3):
            raise ValueError(f"a ResNet reads 1 or 3 channels, not {in_channels}")
        build, _, self.out_features = RESNETS[name]
        self.name = name
        self.in_channels = in_channels
        self.net = build(weights=None)
        self.net.fc = nn.Identity()
        # [-1, 1] → ImageNet's normalisation: ((x + 1) / 2 − mean) / std = x · a + b
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("scale", (0.5 / std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", ((0.5 - mean) / std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 1:
            x = x.expand(-1, 3, -1, -1)
        return self.net(x * self.scale + self.shift)


def imagenet_weights_path(name: ResNetName) -> Path:
    """Where torchvision keeps (and gantl looks for) `name`'s ImageNet weights: the torch hub
    cache (`$TORCH_HOME/hub/checkpoints`, by default ~/.cache/torch/hub/checkpoints)."""
    url = RESNETS[name][1].url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def pretrained_path(name: ResNetName, pretrained: str) -> Path:
    """The file `pretrained` ("imagenet" or a weights file's path) names, which must exist."""
    if pretrained == "imagenet":
        path = imagenet_weights_path(name)
        if not path.is_file():
            url = RESNETS[name][1].url
            raise DataError(
                f"{path}: no ImageNet weights for {name} here, and gantl downloads nothing; "
                f"copy {url} to that path (or run torchvision's {name}(weights="
                f"'IMAGENET1K_V1') once where there is a network), or set `pretrained` to a "
                ".safetensors/.pth file of the backbone's weights"
            )
        return path
    path = Path(pretrained)
    if not path.is_file():
        raise DataError(f"{path}: no such weights file (pretrained: a .safetensors or .pth path)")
    return path


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict of tensors from `.safetensors` or `.pth`, never an unpickled object."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle with objects, a truncated file, not weights at all
        raise DataError(f"{path}: not a weights file ({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint's weights
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{path}: expected a mapping of parameter names to tensors")
    return state


def load_pretrained(encoder: ResNetEncoder, pretrained: str) -> Path:
    """Load `pretrained` into the backbone (the ImageNet `fc` is dropped; a "module." or
    "backbone." prefix is accepted); a DataError naming the file when it does not fit."""
    path = pretrained_path(encoder.name, pretrained)
    state = {}
    for key, value in read_weights(path).items():
        for prefix in ("module.", "backbone."):
            key = key.removeprefix(prefix)
        if not key.startswith("fc."):
            state[key] = value
    try:
        encoder.net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        why = (lines[1] if len(lines) > 1 else "keys or shapes differ")[:200]
        raise DataError(f"{path}: not {encoder.name} weights ({why})") from None
    return path
