"""Typed params: the pydantic models of params.yaml.

Each stage reads its own section; every default carries a comment saying why. A bad value fails
here, before any stage writes anything, with the file, the field path and what was expected.
A params file holds exactly the values that run: every section is validated as written, with
nothing merged in. Paper-size runs rewrite the file itself (gantl.profiles, `gantl profile
paper`), so DVC, lineage and manifests all see the values a stage ran with.
"""

from __future__ import annotations

import math
import re
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gantl.data.spec_syntax import parse_spec
from gantl.errors import ConfigError

DEFAULT_PARAMS = Path("params.yaml")


class _Section(BaseModel):
    # allow_inf_nan: no float field means anything at .inf or .nan (`lr: .inf` trained to NaN
    # weights); Float below says so in the file's words, this backs up any other float
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _check_int(v: Any) -> Any:
    """YAML's `true` is no 1 and `2.5` no 2: an integer field takes integers only."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("must be an integer")
    return v


def _check_float(v: Any) -> Any:
    """A number, never `true`/`false`, `.inf` or `.nan`; ints (`lr: 1`) and the strings PyYAML
    leaves numbers without a dot as (`lr: 1e-3`) are read as floats."""
    if isinstance(v, bool):
        raise ValueError("must be a finite number")
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


# every integer (epochs, batch sizes, seeds, steps, widths, copies …) and every float (learning
# rates, weight decays, momenta, betas, lambdas, thresholds …) of the sections is one of these
Int = Annotated[int, BeforeValidator(_check_int)]
Float = Annotated[float, BeforeValidator(_check_float)]


class ExperimentConfig(_Section):
    """Which domains take part and the name reports give the experiment."""

    protocol: str  # label printed beside every figure, e.g. "mnist-usps-adda"
    source: str  # labelled domain, a spec such as "bundled:mnist5k" (gantl.data.spec_syntax)
    target: (
        str  # domain to adapt to, e.g. "synthetic:mnistm"; its train labels are never trained on
    )
    data_dir: Path | None = None  # relative domain paths resolve here (else $GANTL_DATA_DIR, cwd)
    seeds: list[Int] = Field([0], min_length=1)  # every training stage runs once per seed

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or min(v) < 0:
            raise ValueError("must be distinct non-negative integers")
        return v

    @field_validator("source", "target")
    @classmethod
    def _known_spec(cls, spec: str) -> str:
        try:
            parse_spec(spec)
        except ConfigError as exc:  # re-raised as ValueError so the message names the field
            raise ValueError(str(exc)) from None
        return spec


class PrepareConfig(_Section):
    """How raw domains become the train/val/test Parquet files."""

    image_size: Literal["auto"] | Int = "auto"  # auto: 28 for gray↔gray, 32 if RGB takes part
    channels: Literal["auto", 1, 3] = "auto"  # auto: 3 if either domain is RGB, else 1
    source_train_size: Int | None = Field(None, gt=0)  # sample this many (ADDA: 2000); None: all
    target_train_size: Int | None = Field(None, gt=0)  # ADDA protocol: 1800 USPS images
    val_fraction: Float = Field(0.1, gt=0, lt=1)  # held out of each train pool for selection
    holdout_fraction: Float = Field(0.5, gt=0, lt=1)  # test share when a domain has no train split
    seed: Int = Field(0, ge=0)  # fixes bundled shuffles, MNIST-M backgrounds and every sample

    @field_validator("image_size", mode="before")
    @classmethod
    def _size(cls, v: Any) -> Any:
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and 8 <= v <= 256):
            return v
        raise ValueError("must be 'auto' or an integer from 8 to 256")

    @field_validator("channels", mode="before")
    @classmethod
    def _channels(cls, v: Any) -> Any:
        if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v in (1, 3)):
            return v
        raise ValueError("must be 'auto', 1 or 3")


# validation context of a profile's keys (check_section_values): the keys it sets, so checks
# across fields compare with the overlay's values only, never with a default standing in for
# the params file's value (that is checked once merged)
OVERLAY_KEYS = "overlay_keys"


def _check_decay(v: int, info: ValidationInfo) -> int:
    """A GAN's `decay_epochs` fits inside its `epochs`."""
    given = (info.context or {}).get(OVERLAY_KEYS)
    if given is not None and "epochs" not in given:
        return v
    epochs = info.data.get("epochs")
    if epochs is not None and v > epochs:
        raise ValueError(f"must be at most epochs ({epochs})")
    return v


AUGMENTATIONS = ("none", "affine", "strong")


def _check_epochs(v: Any) -> Any:
    if v == "auto" or (isinstance(v, int) and not isinstance(v, bool) and v > 0):
        return v
    raise ValueError("must be a positive number of epochs or 'auto'")


# a positive number of epochs, or auto: the section's `steps`, in epochs once the data are known
Epochs = Annotated[int | Literal["auto"], BeforeValidator(_check_epochs)]


def _check_augment(v: Any) -> Any:
    """`true`/`false` (older params files) read as the affine warp or none."""
    if isinstance(v, bool):
        return "affine" if v else "none"
    return v


WEIGHT_FILES = (".safetensors", ".pth", ".pt")


def _check_pretrained(v: Any) -> Any:
    """none, imagenet (torchvision's file in the torch hub cache) or a weights file's path."""
    if v in ("none", "imagenet") or (isinstance(v, str) and v.endswith(WEIGHT_FILES)):
        return v
    raise ValueError("must be 'none', 'imagenet' or a path ending in .safetensors, .pth or .pt")


def _check_device(v: str) -> str:
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", v):
        raise ValueError("must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:<index>'")
    return v


class TrainConfig(_Section):
    """A supervised classifier run (source pretraining, target oracle)."""

    # auto: LeNet for grey digits, DTN for RGB ones (ADDA), ResNet-50 from 64 px up (TLlib)
    model: Literal["auto", "lenet", "dtn", "resnet18", "resnet50"] = "auto"
    # a ResNet's starting weights: none (from scratch), imagenet (torchvision's file, read from
    # the torch hub cache, never downloaded) or a .safetensors/.pth file of backbone weights
    pretrained: str = "none"
    backbone_lr: Float = Field(0.1, gt=0, le=1)  # a pretrained backbone's lr, × the head's (TLlib)
    width: Float = Field(1.0, gt=0, le=4)  # DTN channel multiplier; the CPU recipes use 0.5
    epochs: Epochs = 10  # protocol files: 30 on a CPU; auto: `steps` optimisation steps
    steps: Int = Field(
        1000, gt=0
    )  # with epochs: auto, about this many batches (gantl.training.budget)
    batch_size: Int = Field(64, gt=0)  # ADDA and DANN digit experiments use 64–128
    lr: Float = Field(1e-3, gt=0)  # Adam's default; stable for LeNet/DTN from scratch
    weight_decay: Float = Field(5e-4, ge=0)  # light L2, as in the ADDA/CyCADA digit nets
    # none, affine (random rotation/zoom/shift) or strong (a wider warp plus per-image contrast,
    # brightness, inversion and, for RGB, channel mixing): gantl.data.augment
    augment: Literal[AUGMENTATIONS] = "none"
    bottleneck: Int = Field(0, ge=0)  # > 0: fc → BatchNorm1d of this size ends the encoder (SHOT)
    head: Literal["linear", "weight_norm"] = "linear"  # weight_norm: SHOT's classifier head
    label_smoothing: Float = Field(0.0, ge=0, lt=1)  # SHOT's source training uses 0.1
    device: str = "auto"  # auto: CUDA when present, else CPU; or "cpu", "cuda", "cuda:1"

    _augment = field_validator("augment", mode="before")(_check_augment)
    _device = field_validator("device")(_check_device)
    _pretrained = field_validator("pretrained")(_check_pretrained)

    @model_validator(mode="after")
    def _weights_need_a_resnet(self) -> TrainConfig:
        if self.pretrained != "none" and self.model in ("lenet", "dtn"):
            raise ValueError(f"pretrained weights are for ResNets, not model {self.model!r}")
        return self


class RuntimeConfig(_Section):
    """How the training stages use the machine (results agree to float tolerance)."""

    # data-parallel processes for pretrain, oracle and adapt with DANN (torchrun); `--nproc`
    # overrides it. Each process takes batch_size rows of every step.
    nproc: Int = Field(1, ge=1)
    # the GPU fast path (gantl.training.fast_path), used on CUDA only: mixed precision (bf16,
    # else fp16 with loss scaling), and torch.compile of the training network
    amp: bool = True
    compile: bool = False


class EvaluateConfig(_Section):
    """How the pipeline's models are scored on the test splits."""

    batch_size: Int = Field(512, gt=0)  # inference only: as large as memory allows
    device: str = "auto"
    # the collapse guard (gantl.eval.guard): a model is never recommended when its mean target
    # prediction's entropy falls below this share of source-only's (classes have vanished) …
    collapse_entropy_ratio: Float = Field(0.7, gt=0, le=1)
    # … or its most-predicted class takes more than this share of the way from the source
    # prior's largest class share to all of the target images
    collapse_top_share: Float = Field(0.5, gt=0, le=1)
    # … or it diverges from the reference on the target-val images where that is surest (the
    # `confident_share` of them): source-only's surest predictions while an adapted model agrees
    # with `min_confident_agreement` of them (counting only the images that model corroborates,
    # where `min_corroborated_agreement` is needed), else the other models' majority vote
    # (where `min_confident_agreement` is)
    confident_share: Float = Field(0.25, gt=0, le=1)
    min_confident_agreement: Float = Field(0.8, ge=0, le=1)
    min_corroborated_agreement: Float = Field(0.9, ge=0, le=1)
    # ensembles scored beside the models: member names joined by "&" (the average of their
    # softmax outputs), e.g. "cyclegan+adda&source+t2s"; reported, never recommended
    ensembles: list[str] = []
    # a 2-D t-SNE view of at most this many test images per domain, beside each model's proxy
    # A-distance (plots/embedding/<model>.png; source-only and the adapted models; 0: none)
    embedding_samples: Int = Field(300, ge=0)

    _device = field_validator("device")(_check_device)


VALIDATORS = ("source_val_acc", "neg_entropy", "snd", "iwv", "dev", "im", "bnm", "class_ami")
AdaptMethod = Literal["dann", "adda", "cdan"]
PixelMethod = Literal["source_only", "dann", "adda", "cdan"]  # on translated source images
GANS = ("cyclegan", "stargan", "pixelda")  # translators of the translate stage
STOCHASTIC_GANS = ("pixelda",)  # a noise input: each call may translate an image differently
TWO_WAY_GANS = ("cyclegan", "stargan")  # translators with a target → source generator (t2s)


class AdaptConfig(_Section):
    """Which adaptation methods run, and how their checkpoint is chosen without target labels."""

    methods: list[AdaptMethod] = ["dann", "adda"]  # each one is a DVC stage adapt@<method>
    # label-free choice (gantl.eval.validators); bnm: the smallest worst-case gap to the best
    # checkpoint over the digit benchmarks (benchmarks/results/validators.md)
    validator: Literal[VALIDATORS] = "bnm"
    validation_samples: Int = Field(2000, gt=0)  # source-train rows fitting the IWV/DEV weights
    validate_every: Int = Field(1, gt=0)  # score (and offer a checkpoint) every k epochs + the last
    pixel_methods: list[PixelMethod] = []  # adapt@<translate.gan>+<m>: trained on translated source
    pixel_source: Literal["translated", "both"] = "translated"  # or original + translated images
    # record target-test accuracy beside the validators at every scored checkpoint, for
    # validator studies (gantl bench); it is never read by any choice
    trace_test: bool = False

    @field_validator("methods", "pixel_methods")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("must not repeat a method")
        return v


class DannConfig(_Section):
    """DANN (Ganin & Lempitsky 2015): defaults are the paper's digit settings unless noted."""

    variant: Literal["grl", "alternating"] = "grl"  # GRL: one backward pass; alternating: D then F
    init: Literal["source", "scratch"] = "source"  # start F, C from the pretrained source model
    epochs: Epochs = 20  # one epoch = one pass over the larger domain's train split; or auto
    steps: Int = Field(3000, gt=0)  # with epochs: auto, about this many steps
    batch_size: Int = Field(64, gt=0)  # per domain: each step sees 64 source + 64 target images
    lr: Float = Field(0.01, gt=0)  # μ0 of the annealing μ_p = μ0 / (1 + α p)^β
    lr_alpha: Float = Field(10.0, ge=0)  # α; 0 turns the annealing off
    lr_beta: Float = Field(0.75, ge=0)  # β
    momentum: Float = Field(0.9, ge=0, lt=1)  # SGD momentum, as in the paper
    weight_decay: Float = Field(5e-4, ge=0)
    gamma: Float = Field(10.0, gt=0)  # λ_p = 2 / (1 + exp(−γ p)) − 1
    trade_off: Float = Field(1.0, gt=0)  # λ's final value (λ_p is scaled by it)
    disc_hidden: Int = Field(500, gt=0)  # domain classifier: features → 500 → 500 → 1
    device: str = "auto"

    _device = field_validator("device")(_check_device)


class AddaConfig(_Section):
    """ADDA (Tzeng et al. 2017): F_s and C frozen, F_t trained against a domain discriminator."""

    epochs: Epochs = 20  # one epoch = one pass over the larger domain's train split; or auto
    steps: Int = Field(3000, gt=0)  # with epochs: auto, about this many steps
    batch_size: Int = Field(64, gt=0)  # per domain
    lr: Float = Field(2e-4, gt=0)  # target encoder, Adam (the paper's setting)
    disc_lr: Float = Field(2e-4, gt=0)  # discriminator, Adam
    beta1: Float = Field(0.5, ge=0, lt=1)  # Adam β1 = 0.5, as in the paper
    beta2: Float = Field(0.999, ge=0, lt=1)
    disc_hidden: Int = Field(500, gt=0)  # the paper's discriminator: 500 → 500 → 1
    device: str = "auto"

    _device = field_validator("device")(_check_device)


class CdanConfig(_Section):
    """CDAN (+E) (Long et al. 2018): DANN's one-pass GRL training with D conditioned on the
    classifier's predictions; optimiser and schedules as DannConfig, map and D as the paper's code.
    """

    init: Literal["source", "scratch"] = "source"  # start F, C from the pretrained source model
    epochs: Epochs = 20  # one epoch = one pass over the larger domain's train split; or auto
    steps: Int = Field(3000, gt=0)  # with epochs: auto, about this many steps
    batch_size: Int = Field(64, gt=0)  # per domain; the official digit script's 64
    lr: Float = Field(0.01, gt=0)  # μ0 of μ_p = μ0 / (1 + α p)^β; DANN's and the official 0.01
    lr_alpha: Float = Field(10.0, ge=0)  # α; 0 turns the annealing off
    lr_beta: Float = Field(0.75, ge=0)  # β
    momentum: Float = Field(0.9, ge=0, lt=1)  # SGD momentum, as DANN and the official code
    weight_decay: Float = Field(5e-4, ge=0)  # as DANN and the official code
    gamma: Float = Field(10.0, gt=0)  # λ_p = 2 / (1 + exp(−γ p)) − 1: DANN's, the code's γ
    trade_off: Float = Field(1.0, gt=0)  # λ's final value; the official code's 1.0
    disc_hidden: Int = Field(500, gt=0)  # D: map → 500 → 500 → 1, as the official digit code
    entropy_conditioning: bool = True  # CDAN+E, the paper's best variant; false: plain CDAN
    randomized: Literal["auto"] | bool = "auto"  # T⊙ (random) or T⊗ (outer product); auto: size
    randomized_dim: Int = Field(1024, gt=0)  # d_out of T⊙: the official code's and TLlib's 1024
    randomize_above: Int = Field(4096, gt=0)  # auto: T⊙ when d·K is larger (LeNet: 500·10)
    device: str = "auto"

    _device = field_validator("device")(_check_device)


class CycleGanConfig(_Section):
    """CycleGAN (Zhu et al. 2017) with CyCADA's optional semantic loss; defaults: the paper's."""

    epochs: Int = Field(200, gt=0)  # one epoch = one pass over the larger domain's train split
    decay_epochs: Int = Field(100, ge=0)  # lr falls linearly to ~0 over the last ones (paper)
    batch_size: Int = Field(1, gt=0)  # per domain; the paper uses 1, digits train well with 16+
    lr: Float = Field(2e-4, gt=0)  # Adam, generators and discriminators alike
    beta1: Float = Field(0.5, ge=0, lt=1)  # Adam β1 = 0.5, as in the paper
    beta2: Float = Field(0.999, ge=0, lt=1)
    ngf: Int = Field(64, gt=0)  # generator width (first layer's channels)
    n_blocks: Int = Field(6, ge=0)  # residual blocks at 1/4 resolution (6 for ≤ 128 px)
    ndf: Int = Field(64, gt=0)  # discriminator width
    d_layers: Int = Field(2, ge=1)  # PatchGAN stride-2 layers: 2 → 34 px fields on 28 px digits
    gan_loss: Literal["lsgan", "bce"] = "lsgan"  # least squares: the paper's stable choice
    lambda_cycle: Float = Field(10.0, ge=0)  # λ of ‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁
    lambda_identity: Float = Field(0.5, ge=0)  # identity loss weight, × lambda_cycle (code)
    lambda_semantic: Float = Field(0.0, ge=0)  # CyCADA: the frozen source classifier's labels
    pool_size: Int = Field(50, ge=0)  # history of generated images D also sees; 0: none
    checkpoint_every: Int = Field(1, gt=0)  # epochs between resumable state writes
    device: str = "auto"

    _device = field_validator("device")(_check_device)
    _decay = field_validator("decay_epochs")(_check_decay)


class StarGanConfig(_Section):
    """StarGAN (Choi et al. 2018): one generator for every domain pair; defaults: the paper's."""

    epochs: Int = Field(100, gt=0)  # one epoch = one pass over the largest domain's train split
    decay_epochs: Int = Field(50, ge=0)  # lr falls linearly to ~0 over the last ones
    batch_size: Int = Field(16, gt=0)  # per domain (the paper: 16 in all)
    lr_g: Float = Field(1e-4, gt=0)  # Adam, generator
    lr_d: Float = Field(1e-4, gt=0)  # Adam, discriminator
    beta1: Float = Field(0.5, ge=0, lt=1)
    beta2: Float = Field(0.999, ge=0, lt=1)
    g_conv_dim: Int = Field(64, gt=0)  # generator width
    g_blocks: Int = Field(6, ge=0)  # residual blocks at 1/4 resolution
    d_conv_dim: Int = Field(64, gt=0)  # discriminator width
    d_repeat: Int = Field(3, ge=1)  # stride-2 layers: 28 px → 3 px, 32 px → 4 px
    lambda_cls: Float = Field(1.0, ge=0)  # domain classification loss weight
    lambda_rec: Float = Field(10.0, ge=0)  # reconstruction (cycle) loss weight
    lambda_gp: Float = Field(10.0, ge=0)  # WGAN-GP gradient penalty weight
    lambda_semantic: Float = Field(0.0, ge=0)  # CyCADA's: the frozen source classifier's labels
    n_critic: Int = Field(5, gt=0)  # D updates per G update
    extra_domains: list[str] = []  # specs of more domains to learn beside source and target
    checkpoint_every: Int = Field(1, gt=0)  # epochs between resumable state writes
    device: str = "auto"

    _device = field_validator("device")(_check_device)

    @field_validator("extra_domains")
    @classmethod
    def _specs(cls, v: list[str]) -> list[str]:
        for spec in v:
            ExperimentConfig._known_spec(spec)
        return v

    _decay = field_validator("decay_epochs")(_check_decay)


class PixelDaConfig(_Section):
    """PixelDA (Bousmalis et al. 2017): G(x, z) and a task classifier trained together.
    Defaults: the paper's generator (64 filters, 6 residual blocks, 10-d noise) and batch size;
    lr and loss weights as in PyTorch-GAN's pixelda (α = 1, β = 0.1)."""

    epochs: Int = Field(50, gt=0)  # one epoch = one pass over the larger domain's train split
    decay_epochs: Int = Field(0, ge=0)  # lr falls linearly to ~0 over the last ones
    batch_size: Int = Field(32, gt=0)  # per domain
    lr: Float = Field(2e-4, gt=0)  # Adam, G + T and D alike
    beta1: Float = Field(0.5, ge=0, lt=1)
    beta2: Float = Field(0.999, ge=0, lt=1)
    ngf: Int = Field(64, gt=0)  # generator filters
    n_blocks: Int = Field(6, ge=0)  # residual blocks at full resolution
    z_dim: Int = Field(10, gt=0)  # uniform noise, projected to one extra input channel
    ndf: Int = Field(64, gt=0)  # discriminator width
    d_layers: Int = Field(2, ge=1)  # PatchGAN stride-2 layers
    gan_loss: Literal["lsgan", "bce"] = "lsgan"
    lambda_adv: Float = Field(1.0, ge=0)  # α: fool D
    lambda_task: Float = Field(0.1, ge=0)  # β: T's loss on generated and source images
    lambda_content: Float = Field(0.0, ge=0)  # γ: PMSE(G(x, z), x); 0: off
    lambda_diversity: Float = Field(0.0, ge=0)  # δ: MSGAN's mode seeking, z must matter; 0: off
    ema: Float = Field(0.0, ge=0, lt=1)  # kept G: moving average of G's weights; 0: G itself
    checkpoint_every: Int = Field(1, gt=0)  # epochs between resumable state writes
    device: str = "auto"

    _device = field_validator("device")(_check_device)
    _decay = field_validator("decay_epochs")(_check_decay)


class ReuseConfig(_Section):
    """A translator another experiment's translate stage trained (a StarGAN over several domains
    serves every pair among them): this experiment's translate stage loads it instead of
    training. Its weights' hash is pinned here, so a retrained translator is a params change
    DVC sees, and a file that changed under the same name is refused."""

    dir: str = Field(min_length=1)  # that experiment's models/<gan> folder
    weights_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # its manifest's weights_sha256


REUSABLE_GANS = ("cyclegan", "stargan")  # PixelDA's G is trained with this experiment's classifier


class TranslateConfig(_Section):
    """The translate stage: which GAN turns labelled source images into target-style ones."""

    gan: Literal[GANS] = "cyclegan"  # its section below holds its settings
    seed: Int = Field(0, ge=0)  # the GAN is trained once, like a data stage, with this seed
    train_size: Int | None = Field(None, gt=0)  # images per domain it trains on; None: all
    # wall-time bound on training: the epochs (and their lr decay) shrink to fit; None: none
    budget_minutes: Float | None = Field(10.0, gt=0)
    # which epoch's translator is kept: the best by a label-free score (gan_metrics), or the last
    # (on MNIST-M PixelDA's last epoch was its worst: label preservation 85.5 % against 95.0 %)
    select: Literal["last", "label_free"] = "label_free"
    # classifiers of source-style images (models/ folders: source, dann, adda, …) that also read
    # target images translated back by the translator (two-way GANs): models/<name>+t2s
    t2s: list[str] = []
    # translations of each source train image, each with its own noise: GAN augmentation
    # (a stochastic translator only, PixelDA; val keeps one, so selection reads a fixed set)
    copies: Int = Field(1, ge=1)
    metrics_samples: Int = Field(1000, gt=1)  # source/target val images behind FID, KID, labels
    grid_images: Int = Field(12, gt=0)  # columns of plots/translate/<gan>.png
    # null: train the translator; else the one another experiment trained, on domains that
    # include this experiment's source and target (gantl.stages.translate: reused)
    reuse: ReuseConfig | None = None

    @model_validator(mode="after")
    def _copies_need_noise(self) -> TranslateConfig:
        if self.copies > 1 and self.gan not in STOCHASTIC_GANS:
            raise ValueError(
                f"copies: {self.gan} translates each image one way only; "
                f"copies > 1 needs one of {STOCHASTIC_GANS}"
            )
        if self.reuse is not None and self.gan not in REUSABLE_GANS:
            raise ValueError(
                f"reuse: {self.gan} is trained with this experiment's source classifier; "
                f"reuse takes one of {REUSABLE_GANS}"
            )
        return self


class RefineConfig(_Section):
    """Target self-training from an adapted model (SHOT, Liang et al. 2020): refine@<model>."""

    # models/ folders to refine, each a stage refine@<folder> writing models/<folder>+refine:
    # "source" (the source-only model), or an adapted model (dann, adda, cdan, cyclegan+adda…)
    methods: list[str] = []
    epochs: Epochs = 30  # passes over the target train split; or auto
    steps: Int = Field(1000, gt=0)  # with epochs: auto, about this many steps
    batch_size: Int = Field(64, gt=0)  # target images per step
    lr: Float = Field(0.01, gt=0)  # SGD, as SHOT's digit runs; annealed like DANN's
    lr_alpha: Float = Field(10.0, ge=0)
    lr_beta: Float = Field(0.75, ge=0)
    momentum: Float = Field(0.9, ge=0, lt=1)
    weight_decay: Float = Field(5e-4, ge=0)
    beta: Float = Field(0.3, ge=0)  # weight of the pseudo-label loss (SHOT's digits: 0.3)
    # warp target batches (affine, or strong: gantl.data.augment) while pseudo-labels come
    # from clean images: they then do not lock in their own errors
    augment: Literal[AUGMENTATIONS] = "affine"
    device: str = "auto"

    _augment = field_validator("augment", mode="before")(_check_augment)

    _device = field_validator("device")(_check_device)

    @field_validator("methods")
    @classmethod
    def _models(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("must not repeat a model")
        for name in v:
            if name != "source":
                try:
                    parse_method(name)
                except ConfigError as exc:
                    raise ValueError(f"{exc} (or 'source' for the source-only model)") from None
        return v


REFINED = "+refine"  # suffix of a refined model's name: "dann+refine"
T2S = "+t2s"  # suffix of a target → source model's name: "source+t2s" (gantl.stages.t2s)
ENSEMBLE = "&"  # joins the members of an ensemble's name: "cyclegan+adda&source+t2s"


class Params(_Section):
    """The whole of params.yaml: one section per stage, each validated as written."""

    experiment: (
        ExperimentConfig  # every section is required: a missing one is a typo, not a default
    )
    prepare: PrepareConfig
    pretrain: TrainConfig
    oracle: TrainConfig
    adapt: AdaptConfig
    dann: DannConfig
    adda: AddaConfig
    cdan: CdanConfig
    refine: RefineConfig
    translate: TranslateConfig
    cyclegan: CycleGanConfig
    stargan: StarGanConfig
    pixelda: PixelDaConfig
    evaluate: EvaluateConfig
    runtime: RuntimeConfig = RuntimeConfig()  # optional: params files from before it still load

    @property
    def pixel_models(self) -> list[str]:
        """Names of the pixel + feature models: "<gan>+<method>", e.g. "cyclegan+adda"."""
        return [f"{self.translate.gan}+{m}" for m in self.adapt.pixel_methods]

    @property
    def refined_models(self) -> list[str]:
        """Names (and models/ folders) of the refined models: "dann+refine", "source+refine"."""
        return [f"{m}{REFINED}" for m in self.refine.methods]

    @property
    def t2s_models(self) -> list[str]:
        """Names (and models/ folders) of the target → source models: "source+t2s"."""
        return [f"{m}{T2S}" for m in self.translate.t2s]

    @property
    def adapted_models(self) -> list[str]:
        """Every model an adapt, refine or t2s stage makes, in report order."""
        return [*self.adapt.methods, *self.pixel_models, *self.refined_models, *self.t2s_models]

    @model_validator(mode="after")
    def _refined_models_exist(self) -> Params:
        made = {"source", *self.adapt.methods, *self.pixel_models}
        missing = [m for m in self.refine.methods if m not in made]
        if missing:
            raise ValueError(
                f"refine.methods: {missing} are made by no stage; expected some of {sorted(made)}"
            )
        return self

    @model_validator(mode="after")
    def _t2s_bases_exist(self) -> Params:
        """t2s needs a two-way translator and classifiers of source-style images."""
        if not self.translate.t2s:
            return self
        if self.translate.gan not in TWO_WAY_GANS:
            raise ValueError(
                f"translate.t2s: {self.translate.gan} has no target → source generator; "
                f"expected translate.gan one of {', '.join(TWO_WAY_GANS)}"
            )
        made = {"source", *self.adapt.methods, *self.refined_models} - set(self.pixel_models)
        missing = [m for m in self.translate.t2s if m not in made]
        if missing:
            raise ValueError(
                f"translate.t2s: {missing} are no source-style classifier a stage makes; "
                f"expected some of {sorted(made)}"
            )
        return self

    @model_validator(mode="after")
    def _ensemble_members_exist(self) -> Params:
        known = {"source_only", *self.adapted_models}
        for name in self.evaluate.ensembles:
            members = name.split(ENSEMBLE)
            unknown = [m for m in members if m not in known]
            if len(members) < 2 or unknown:
                raise ValueError(
                    f"evaluate.ensembles: {name!r} needs two or more of {sorted(known)} joined "
                    f"by {ENSEMBLE!r}" + (f" (unknown: {unknown})" if unknown else "")
                )
        return self


def _format(errors: list[Any], source: str) -> str:
    lines = []
    for e in errors:
        field = ".".join(str(p) for p in e["loc"]) or "<top level>"
        msg = e["msg"].removeprefix("Value error, ")
        got = "" if e["type"] == "missing" else f" (got {e['input']!r})"
        lines.append(f"{source}: {field}: {msg}{got}")
    return "\n".join(lines)


def params_from_dict(raw: dict[str, Any], source: str = "params") -> Params:
    """Validate a params mapping; errors read `<source>: <field.path>: <message> (got <value>)`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    stale = sorted({"profile", "profiles"} & set(raw))
    if stale:  # the removed overrides block: say what replaced it, not just "extra inputs"
        key = stale[0]
        raise ConfigError(
            f"{source}: {key}: profiles were removed: the sections hold the values that run; "
            f"`gantl profile <name>` writes an overlay's values into them "
            f"(got {reprlib.repr(raw[key])})"
        )
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format(exc.errors(), source)) from None


def check_section_values(section: str, values: dict[str, Any], source: str) -> None:
    """Validate some of a section's keys (a profile's overlay) with the section's own model.

    Each value given is checked as it would be in a params file: its type, bounds and field
    validators, and checks across fields among the keys given. Errors read
    `<source>: <section>.<key>: <message> (got <value>)`. Keys left out, and checks needing
    them, are the params file's: validate the merged params too.
    """
    model = Params.model_fields[section].annotation
    try:
        model.model_validate(values, context={OVERLAY_KEYS: frozenset(values)})
    except ValidationError as exc:
        errors = [
            {**e, "loc": (section, *e["loc"])}
            for e in exc.errors()
            if e["loc"] and e["loc"][0] in values and e["type"] != "missing"
        ]
        if errors:
            raise ConfigError(_format(errors, source)) from None


def read_params_file(path: Path) -> dict[str, Any]:
    """The raw mapping of a params file, before validation."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return raw


def load_params(path: Path = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml (or another file of the same form)."""
    return params_from_dict(read_params_file(path), str(path))


def parse_method(method: str) -> tuple[str | None, str]:
    """A model name → (translator, feature-level method): "adda" → (None, "adda");
    "cyclegan+adda" → ("cyclegan", "adda") (pixel + feature); "cyclegan+source_only" too."""
    gan, _, base = method.rpartition("+")
    if gan and gan not in GANS:
        raise ConfigError(
            f"adapt: unknown translator {gan!r} in {method!r}; expected one of {GANS}"
        )
    known = set(get_args(AdaptMethod)) | ({"source_only"} if gan else set())
    if base not in known:
        raise ConfigError(f"adapt: unknown method {method!r}; expected one of {sorted(known)}")
    return gan or None, base
