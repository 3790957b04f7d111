"""One training step of each method against a hand-computed reference on tiny float64 nets.

Each test builds tiny seeded modules, snapshots their parameters θ, runs ONE call of a step
function with plain SGD (no momentum, no weight decay) and checks

  (a) the logged losses against the paper's equations, written out below with plain torch ops
      (log-sigmoid, log-softmax, squares, absolute values), never with the library's helpers;
  (b) every parameter against θ' = θ − lr · ∂L/∂θ, where ∂L/∂θ is taken by autograd on the
      hand-written loss of the snapshot θ (or analytically, for the gradient penalty).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gantl.config import CycleGanConfig, StarGanConfig
from gantl.methods.adda import adda_step
from gantl.methods.cdan import cdan_step
from gantl.methods.cyclegan import ImagePool, cyclegan_step
from gantl.methods.dann import dann_alternating_step, dann_step
from gantl.methods.gan_losses import gradient_penalty
from gantl.methods.stargan import stargan_step
from gantl.models.multilinear import MultilinearMap, RandomizedMultilinearMap

DT = torch.float64
Params = dict[str, torch.Tensor]


# ---------------------------------------------------------------- tiny networks


class TinyClassifier(nn.Module):
    """Classifier's interface: features F(x) = tanh(W x + b), logits C(F(x)) = V F(x) + c."""

    def __init__(self, d_in: int = 4, d_feat: int = 3, classes: int = 3) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, d_feat), nn.Tanh())
        self.head = nn.Linear(d_feat, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class TinyDisc(nn.Module):
    """DomainDiscriminator's interface: features N×d → logits N, one hidden tanh layer."""

    def __init__(self, d_feat: int = 3, hidden: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_feat, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.net(f).squeeze(1)


class Pixelwise(nn.Module):
    """A 1×1 convolution (then tanh for a generator): the smallest image-to-image network."""

    def __init__(self, c_in: int, c_out: int, tanh: bool) -> None:
        super().__init__()
        self.conv, self.tanh = nn.Conv2d(c_in, c_out, 1), tanh

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.tanh(y) if self.tanh else y


class TinyStarG(nn.Module):
    """StarGenerator's interface: G(x, c) = tanh(1×1 conv of [x, c broadcast over H×W])."""

    def __init__(self, channels: int, k: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels + k, channels, 1)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        planes = c[:, :, None, None].expand(-1, -1, *x.shape[2:]).to(x.dtype)
        return torch.tanh(self.conv(torch.cat([x, planes], 1)))


class TinyStarD(nn.Module):
    """StarDiscriminator's interface: x → (critic map N×1×H×W, domain logits N×k).

    The critic is a 1×1 convolution, linear in x, so ∇ₓ Σ critic(x) is w at every pixel and the
    gradient penalty is (√(HW)·‖w‖ − 1)² wherever x̂ lands.
    """

    def __init__(self, channels: int, size: int, k: int) -> None:
        super().__init__()
        self.src = nn.Conv2d(channels, 1, 1)
        self.cls = nn.Linear(channels * size * size, k)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.src(x), self.cls(x.flatten(1))


# ---------------------------------------------------------------- hand-written reference


def snapshot(module: nn.Module) -> Params:
    """θ before the step, as fresh leaves the reference differentiates."""
    return {n: p.detach().clone().requires_grad_(True) for n, p in module.named_parameters()}


def sgd(params: Params, grad: Params, lr: float) -> Params:
    """θ − lr · ∂L/∂θ for the parameters in `grad`; the others stay as they are."""
    return {n: (p - lr * grad[n] if n in grad else p).detach() for n, p in params.items()}


def grads(loss: torch.Tensor, params: Params, prefix: str = "") -> Params:
    """∂loss/∂θ for every θ of `params` whose name starts with `prefix`."""
    names = [n for n in params if n.startswith(prefix)]
    values = torch.autograd.grad(loss, [params[n] for n in names], retain_graph=True)
    return dict(zip(names, values, strict=True))


def linear(x: torch.Tensor, p: Params, name: str) -> torch.Tensor:
    return x @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def conv1x1(x: torch.Tensor, p: Params, name: str) -> torch.Tensor:
    w, b = p[f"{name}.weight"][:, :, 0, 0], p[f"{name}.bias"]
    return torch.einsum("oc,nchw->nohw", w, x) + b[None, :, None, None]


def feat(x: torch.Tensor, p: Params, name: str = "encoder.0") -> torch.Tensor:
    return torch.tanh(linear(x, p, name))


def disc_logits(f: torch.Tensor, p: Params) -> torch.Tensor:
    return linear(torch.tanh(linear(f, p, "net.0")), p, "net.2").squeeze(1)


def bce_source(z: torch.Tensor) -> torch.Tensor:
    """−E[log σ(z)]: binary cross-entropy of logits z against label 1."""
    return -F.logsigmoid(z).mean()


def bce_target(z: torch.Tensor) -> torch.Tensor:
    """−E[log(1 − σ(z))] = −E[log σ(−z)]: against label 0."""
    return -F.logsigmoid(-z).mean()


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """−E[log softmax(logits)_y]."""
    log_p = logits - logits.logsumexp(1, keepdim=True)
    return -log_p[torch.arange(len(y)), y].mean()


def l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def acc(d_s: torch.Tensor, d_t: torch.Tensor) -> object:
    """Domain accuracy: source called source (logit > 0), target called target (≤ 0).

    Compared approximately: it is logged from float32 means.
    """
    return pytest.approx(float(((d_s > 0).to(DT).mean() + (d_t <= 0).to(DT).mean()) / 2))


def assert_logged(logs: dict[str, float], expected: dict[str, torch.Tensor | float]) -> None:
    for key, value in expected.items():
        value = value.detach() if isinstance(value, torch.Tensor) else value
        assert logs[key] == pytest.approx(float(value), rel=1e-10, abs=1e-12), key


def assert_params(module: nn.Module, expected: Params, prefix: str = "") -> None:
    for n, p in module.named_parameters():
        torch.testing.assert_close(
            p.detach(), expected[prefix + n], rtol=1e-10, atol=1e-12, msg=prefix + n
        )


def assert_nonnegligible(*tensors: torch.Tensor) -> None:
    """The term under test moves θ far beyond the tolerance, so dropping it must be noticed."""
    for t in tensors:
        assert t.abs().max() > 1e-3


# ---------------------------------------------------------------- DANN


def dann_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """4 source rows, 3 target rows: unequal sizes show that each domain's BCE is its own mean."""
    return torch.randn(4, 4, dtype=DT), torch.tensor([0, 1, 2, 1]), torch.randn(3, 4, dtype=DT)


def test_dann_step_reverses_lambda_times_the_domain_gradient_into_features():
    """GRL step, lam = 0.7, one SGD step over F, C, D:

    L_y = CE(C(F(x_s)), y_s),  L_d = ½[−E log σ(D(F(x_s))) − E log(1 − σ(D(F(x_t))))]
    C ← C − lr ∂L_y/∂C,   D ← D − lr ∂L_d/∂D,   F ← F − lr (∂L_y/∂F − λ ∂L_d/∂F).
    """
    torch.manual_seed(0)
    model, disc = TinyClassifier().double(), TinyDisc().double()
    x_s, y_s, x_t = dann_batch()
    lam, lr = 0.7, 0.5
    m, d = snapshot(model), snapshot(disc)
    opt = torch.optim.SGD([*model.parameters(), *disc.parameters()], lr=lr)

    logs = dann_step(model, disc, opt, x_s, y_s, x_t, lam)

    f_s, f_t = feat(x_s, m), feat(x_t, m)
    cls_loss = cross_entropy(linear(f_s, m, "head"), y_s)
    d_s, d_t = disc_logits(f_s, d), disc_logits(f_t, d)
    domain_loss = 0.5 * (bce_source(d_s) + bce_target(d_t))
    assert_logged(logs, {"cls_loss": cls_loss, "domain_loss": domain_loss})
    assert logs["domain_acc"] == acc(d_s, d_t)

    g_cls, g_dom = grads(cls_loss, m), grads(domain_loss, m, "encoder.")
    assert_nonnegligible(*(lr * lam * g for g in g_dom.values()))
    g_model = {n: g - lam * g_dom[n] if n in g_dom else g for n, g in g_cls.items()}
    assert_params(model, sgd(m, g_model, lr))
    assert_params(disc, sgd(d, grads(domain_loss, d), lr))  # D itself descends L_d: no reversal


def test_dann_alternating_step_updates_d_then_f_against_the_updated_d():
    """Alternating DANN, lam = 0.6, lr_f = 0.5, lr_d = 0.8:

    1. L_D = ½[−E log σ(D(f_s)) − E log(1 − σ(D(f_t)))] on detached f = F(x); D' = D − lr_d ∂L_D/∂D
    2. L_F = CE(C(f_s), y_s) + λ · ½[−E log(1 − σ(D'(f_s))) − E log σ(D'(f_t))]  (flipped labels,
       the UPDATED D', the features f of step 1); F, C ← · − lr_f ∂L_F/∂·; D stays D'.
    """
    torch.manual_seed(1)
    model, disc = TinyClassifier().double(), TinyDisc().double()
    x_s, y_s, x_t = dann_batch()
    lam, lr_f, lr_d = 0.6, 0.5, 0.8
    m, d = snapshot(model), snapshot(disc)
    opt_f = torch.optim.SGD(model.parameters(), lr=lr_f)
    opt_d = torch.optim.SGD(disc.parameters(), lr=lr_d)

    logs = dann_alternating_step(model, disc, opt_f, opt_d, x_s, y_s, x_t, lam)

    f_s, f_t = feat(x_s, m), feat(x_t, m)
    d_loss = 0.5 * (bce_source(disc_logits(f_s.detach(), d)) + bce_target(disc_logits(f_t, d)))
    d_new = sgd(d, grads(d_loss, d), lr_d)
    e_s, e_t = disc_logits(f_s, d_new), disc_logits(f_t, d_new)
    cls_loss = cross_entropy(linear(f_s, m, "head"), y_s)
    g_loss = 0.5 * (bce_target(e_s) + bce_source(e_t))
    assert_logged(logs, {"cls_loss": cls_loss, "domain_loss": d_loss})
    assert logs["domain_acc"] == acc(e_s, e_t)

    assert_params(disc, d_new)  # F's step leaves D alone
    g_model = grads(cls_loss + lam * g_loss, m)
    assert_params(model, sgd(m, g_model, lr_f))
    # the D step is large enough that F's gradient against the old D would differ
    old_d = 0.5 * (bce_target(disc_logits(f_s, d)) + bce_source(disc_logits(f_t, d)))
    g_old = grads(cls_loss + lam * old_d, m, "encoder.")
    assert_nonnegligible(*(lr_f * (g_old[n] - g_model[n]) for n in g_old))


# ---------------------------------------------------------------- ADDA


def test_adda_step_updates_d_then_the_target_encoder_only():
    """ADDA, lr_t = 0.5, lr_d = 0.8, M_s frozen:

    1. L_D = ½[−E log σ(D(M_s x_s)) − E log(1 − σ(D(M_t x_t)))];  D' = D − lr_d ∂L_D/∂D
    2. L_M = −E log σ(D'(M_t x_t)) (inverted label, UPDATED D');  M_t ← M_t − lr_t ∂L_M/∂M_t
    M_s keeps its values and receives no gradient.
    """
    torch.manual_seed(2)
    source = nn.Sequential(nn.Linear(4, 3), nn.Tanh()).double()
    target = nn.Sequential(nn.Linear(4, 3), nn.Tanh()).double()  # ≠ M_s: the roles are visible
    disc = TinyDisc().double()
    x_s, x_t = torch.randn(4, 4, dtype=DT), torch.randn(3, 4, dtype=DT)
    lr_t, lr_d = 0.5, 0.8
    s, t, d = snapshot(source), snapshot(target), snapshot(disc)
    opt_t = torch.optim.SGD(target.parameters(), lr=lr_t)
    opt_d = torch.optim.SGD(disc.parameters(), lr=lr_d)

    logs = adda_step(source, target, disc, opt_t, opt_d, x_s, x_t)

    f_s, f_t = feat(x_s, s, "0").detach(), feat(x_t, t, "0")
    d_s = disc_logits(f_s, d)
    d_loss = 0.5 * (bce_source(d_s) + bce_target(disc_logits(f_t.detach(), d)))
    d_new = sgd(d, grads(d_loss, d), lr_d)
    e_t = disc_logits(f_t, d_new)
    g_loss = bce_source(e_t)
    assert_logged(logs, {"d_loss": d_loss, "g_loss": g_loss})
    assert logs["domain_acc"] == acc(d_s, e_t)

    assert_params(disc, d_new)
    assert_params(target, sgd(t, grads(g_loss, t), lr_t))
    assert_params(source, {n: p.detach() for n, p in s.items()})
    assert all(p.grad is None for p in source.parameters())


# ---------------------------------------------------------------- CycleGAN (+ CyCADA)

C, H, N = 2, 3, 2  # channels, image side, images per domain


def cyclegan_setup(seed: int) -> tuple[nn.ModuleDict, nn.Module, torch.Tensor, torch.Tensor]:
    """G_AB, G_BA: tanh(1×1 conv); D_A, D_B: 1×1 conv to a patch map; a frozen linear f."""
    torch.manual_seed(seed)
    nets = nn.ModuleDict(
        {
            "G_AB": Pixelwise(C, C, tanh=True),
            "G_BA": Pixelwise(C, C, tanh=True),
            "D_A": Pixelwise(C, 1, tanh=False),
            "D_B": Pixelwise(C, 1, tanh=False),
        }
    ).double()
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(C * H * H, 3)).double()
    classifier.requires_grad_(False)
    real_a, real_b = torch.randn(N, C, H, H, dtype=DT), torch.randn(N, C, H, H, dtype=DT)
    return nets, classifier, real_a, real_b


def cyclegan_optimizers(
    nets: nn.ModuleDict, lr_g: float, lr_d: float
) -> tuple[torch.optim.SGD, torch.optim.SGD]:
    opt_g = torch.optim.SGD([*nets["G_AB"].parameters(), *nets["G_BA"].parameters()], lr=lr_g)
    opt_d = torch.optim.SGD([*nets["D_A"].parameters(), *nets["D_B"].parameters()], lr=lr_d)
    return opt_g, opt_d


def pools(size: int) -> tuple[ImagePool, ImagePool]:
    """Size 0: no history. Size ≥ N: the first query stores the batch and returns it unchanged."""
    g = torch.Generator().manual_seed(0)
    return ImagePool(size, g), ImagePool(size, g)


def cyclegan_reference(
    p: Params, a: torch.Tensor, b: torch.Tensor, cfg: CycleGanConfig, classifier: nn.Module | None
) -> dict[str, torch.Tensor]:
    """L_G and L_D_A + L_D_B of the CycleGAN/CyCADA equations at the parameters p (LSGAN)."""

    def gen(x, name):
        return torch.tanh(conv1x1(x, p, f"{name}.conv"))

    def dis(x, name):
        return conv1x1(x, p, f"{name}.conv")

    fake_b, fake_a = gen(a, "G_AB"), gen(b, "G_BA")
    gan = ((dis(fake_b, "D_B") - 1) ** 2).mean() + ((dis(fake_a, "D_A") - 1) ** 2).mean()
    cycle = l1(gen(fake_b, "G_BA"), a) + l1(gen(fake_a, "G_AB"), b)
    identity = l1(gen(b, "G_AB"), b) + l1(gen(a, "G_BA"), a)
    semantic = torch.zeros((), dtype=DT)
    if classifier is not None:
        w, bias = (t.detach() for t in classifier[1].parameters())

        def f(x):
            return x.flatten(1) @ w.T + bias

        p_a, p_b = f(a).argmax(1), f(b).argmax(1)  # f's labels for the input images
        semantic = cross_entropy(f(fake_b), p_a) + cross_entropy(f(fake_a), p_b)
    loss_g = (
        gan
        + cfg.lambda_cycle * cycle
        + cfg.lambda_identity * cfg.lambda_cycle * identity
        + cfg.lambda_semantic * semantic
    )
    fb, fa = fake_b.detach(), fake_a.detach()  # D judges the fakes of G before its step
    d_b = 0.5 * (((dis(b, "D_B") - 1) ** 2).mean() + (dis(fb, "D_B") ** 2).mean())
    d_a = 0.5 * (((dis(a, "D_A") - 1) ** 2).mean() + (dis(fa, "D_A") ** 2).mean())
    return {
        "g_gan": gan,
        "cycle": cycle,
        "identity": identity,
        "semantic": semantic,
        "loss_g": loss_g,
        "d_a": d_a,
        "d_b": d_b,
    }


def cyclegan_expected(p: Params, ref: dict[str, torch.Tensor], lr_g: float, lr_d: float) -> Params:
    """G ← G − lr_g ∂L_G/∂G and D ← D − lr_d ∂(L_D_A + L_D_B)/∂D, both at the pre-step θ."""
    new_g = sgd(p, grads(ref["loss_g"], p, "G_"), lr_g)
    new_d = sgd(p, grads(ref["d_a"] + ref["d_b"], p, "D_"), lr_d)
    return {n: new_g[n] if n.startswith("G_") else new_d[n] for n in p}


@pytest.mark.parametrize("pool_size", [0, N])
def test_cyclegan_step_updates_generators_then_discriminators(pool_size):
    """CycleGAN, LSGAN, λ_cyc = 2, λ_idt = 0.3 (identity weight λ_idt·λ_cyc = 0.6), no f:

    L_G = (D_B(G_AB a) − 1)² + (D_A(G_BA b) − 1)² + λ_cyc (|G_BA G_AB a − a| + |G_AB G_BA b − b|)
          + λ_idt λ_cyc (|G_AB b − b| + |G_BA a − a|)                    (means over elements)
    G ← G − lr_g ∂L_G/∂G (D fixed); then, with the fakes of the pre-step G,
    L_D_B = ½[(D_B(b) − 1)² + D_B(G_AB a)²], L_D_A likewise; D ← D − lr_d ∂(L_D_A + L_D_B)/∂D.
    """
    nets, _, real_a, real_b = cyclegan_setup(seed=3)
    cfg = CycleGanConfig(lambda_cycle=2.0, lambda_identity=0.3, lambda_semantic=0.0)
    assert cfg.gan_loss == "lsgan"
    lr_g, lr_d = 0.3, 0.4
    p = snapshot(nets)
    opt_g, opt_d = cyclegan_optimizers(nets, lr_g, lr_d)

    logs = cyclegan_step(nets, opt_g, opt_d, real_a, real_b, pools(pool_size), cfg)

    ref = cyclegan_reference(p, real_a, real_b, cfg, classifier=None)
    assert_logged(logs, {k: ref[k] for k in ("g_gan", "cycle", "identity", "d_a", "d_b")})
    assert logs["semantic"] == 0.0
    assert_nonnegligible(*(lr_g * 0.6 * g for g in grads(ref["identity"], p, "G_").values()))
    assert_params(nets, cyclegan_expected(p, ref, lr_g, lr_d))


def test_cyclegan_semantic_loss_adds_exactly_its_gradient_to_the_generator_step():
    """CyCADA's semantic term, λ_sem = 0.4, f frozen, p_f(x) = argmax f(x):

    L_sem = CE(f(G_AB a), p_f(a)) + CE(f(G_BA b), p_f(b)).
    Two steps from the same θ, λ_sem = 0.4 and λ_sem = 0 (f passed to both), differ in G by
    exactly −lr_g · 0.4 · ∂L_sem/∂G and not at all in D; f does not change.
    """
    nets, classifier, real_a, real_b = cyclegan_setup(seed=4)
    lr_g, lr_d = 0.3, 0.4
    p, f_before = snapshot(nets), snapshot(classifier)
    runs = {}
    for lam in (0.0, 0.4):
        cfg = CycleGanConfig(lambda_cycle=2.0, lambda_identity=0.3, lambda_semantic=lam)
        run_nets = copy.deepcopy(nets)
        opt_g, opt_d = cyclegan_optimizers(run_nets, lr_g, lr_d)
        logs = cyclegan_step(
            run_nets, opt_g, opt_d, real_a, real_b, pools(N), cfg, classifier=classifier
        )
        ref = cyclegan_reference(p, real_a, real_b, cfg, classifier)
        assert_logged(logs, {k: ref[k] for k in ("g_gan", "cycle", "identity", "d_a", "d_b")})
        assert_logged(logs, {"semantic": ref["semantic"] if lam else 0.0})
        assert_params(run_nets, cyclegan_expected(p, ref, lr_g, lr_d))
        runs[lam] = {n: q.detach() for n, q in run_nets.named_parameters()}

    g_sem = grads(ref["semantic"], p, "G_")
    assert_nonnegligible(*(lr_g * 0.4 * g for g in g_sem.values()))
    for n in p:
        delta = -lr_g * 0.4 * g_sem[n] if n.startswith("G_") else torch.zeros_like(p[n])
        torch.testing.assert_close(runs[0.4][n] - runs[0.0][n], delta, rtol=1e-9, atol=1e-12)
    assert_params(classifier, {n: q.detach() for n, q in f_before.items()})


# ---------------------------------------------------------------- StarGAN

K, S = 3, 2  # domains, image side


@pytest.mark.parametrize(("lambda_gp", "update_g"), [(0.0, True), (10.0, True), (10.0, False)])
def test_stargan_step_updates_critic_then_generator(lambda_gp, update_g):
    """StarGAN, WGAN-GP, λ_cls = 0.7, λ_rec = 2, lr_d = 0.3, lr_g = 0.2; c = one-hot labels:

    L_D = E[D_src(G(x, c_trg))] − E[D_src(x)] + λ_cls CE(D_cls(x), c_org) + λ_gp GP,
          GP = (√(HW)‖w_src‖ − 1)² exactly, since the critic map is a 1×1 conv (linear in x);
    D' = D − lr_d ∂L_D/∂D; then, if update_g, with the UPDATED D':
    L_G = −E[D'_src(G(x, c_trg))] + λ_cls CE(D'_cls(G(x, c_trg)), c_trg)
          + λ_rec |G(G(x, c_trg), c_org) − x|;  G ← G − lr_g ∂L_G/∂G.
    """
    torch.manual_seed(5)
    G, D = TinyStarG(C, K).double(), TinyStarD(C, S, K).double()
    x = torch.randn(K, C, S, S, dtype=DT)
    c_org, c_trg = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 0])
    cfg = StarGanConfig(lambda_cls=0.7, lambda_rec=2.0, lambda_gp=lambda_gp)
    lr_g, lr_d = 0.2, 0.3
    g, d = snapshot(G), snapshot(D)
    opt_g = torch.optim.SGD(G.parameters(), lr=lr_g)
    opt_d = torch.optim.SGD(D.parameters(), lr=lr_d)

    logs = stargan_step(
        G, D, opt_g, opt_d, x, c_org, c_trg, K, cfg, update_g, torch.Generator().manual_seed(0)
    )

    def gen(v, labels):
        planes = torch.eye(K, dtype=DT)[labels][:, :, None, None].expand(-1, -1, S, S)
        return torch.tanh(conv1x1(torch.cat([v, planes], 1), g, "conv"))

    def dis(v, p):
        return conv1x1(v, p, "src"), linear(v.flatten(1), p, "cls")

    src_real, cls_real = dis(x, d)
    src_fake, _ = dis(gen(x, c_trg).detach(), d)
    d_adv = src_fake.mean() - src_real.mean()
    d_cls = cross_entropy(cls_real, c_org)
    d_gp = (S * d["src.weight"].norm() - 1) ** 2  # √(HW) = S
    d_loss = d_adv + cfg.lambda_cls * d_cls + cfg.lambda_gp * d_gp
    d_new = sgd(d, grads(d_loss, d), lr_d)
    assert_logged(logs, {"d_adv": d_adv, "d_cls": d_cls, "d_gp": d_gp})
    assert_params(D, d_new)
    if lambda_gp:
        assert_nonnegligible(lr_d * lambda_gp * grads(d_gp, d, "src.weight")["src.weight"])
    if not update_g:
        assert set(logs) == {"d_adv", "d_cls", "d_gp"}
        assert_params(G, {n: q.detach() for n, q in g.items()})
        return

    fake = gen(x, c_trg)
    src, cls = dis(fake, d_new)
    g_adv = -src.mean()
    g_cls = cross_entropy(cls, c_trg)
    g_rec = l1(gen(fake, c_org), x)
    g_loss = g_adv + cfg.lambda_cls * g_cls + cfg.lambda_rec * g_rec
    assert_logged(logs, {"g_adv": g_adv, "g_cls": g_cls, "g_rec": g_rec})
    assert_params(G, sgd(g, grads(g_loss, g), lr_g))
    assert all(p.requires_grad for p in D.parameters())  # D is trainable again for the next step


def test_stargan_semantic_loss_adds_exactly_its_gradient_to_the_generator_step():
    """The CyCADA term on StarGAN, λ_sem = 0.4, f frozen, p_f(x) = argmax f(x):

    L_sem = CE(f(G(x, c_trg)), p_f(x)).
    Two steps from the same θ, λ_sem = 0.4 and λ_sem = 0 (f passed to both), differ in G by
    exactly −lr_g · 0.4 · ∂L_sem/∂G and not at all in D; f does not change.
    """
    torch.manual_seed(7)
    G, D = TinyStarG(C, K).double(), TinyStarD(C, S, K).double()
    f = nn.Sequential(nn.Flatten(), nn.Linear(C * S * S, 4)).double().requires_grad_(False)
    f_before = snapshot(f)
    x = torch.randn(K, C, S, S, dtype=DT)
    c_org, c_trg = torch.tensor([0, 1, 2]), torch.tensor([2, 0, 1])
    lr_g, lr_d = 0.2, 0.3
    g = snapshot(G)
    runs, logs = {}, {}
    for lam in (0.0, 0.4):
        cfg = StarGanConfig(lambda_cls=0.7, lambda_rec=2.0, lambda_gp=0.0, lambda_semantic=lam)
        run_g, run_d = copy.deepcopy(G), copy.deepcopy(D)
        opt_g = torch.optim.SGD(run_g.parameters(), lr=lr_g)
        opt_d = torch.optim.SGD(run_d.parameters(), lr=lr_d)
        logs[lam] = stargan_step(
            *(run_g, run_d, opt_g, opt_d, x, c_org, c_trg, K, cfg, True),
            torch.Generator().manual_seed(0),
            classifier=f,
        )
        runs[lam] = (snapshot(run_g), snapshot(run_d))

    planes = torch.eye(K, dtype=DT)[c_trg][:, :, None, None].expand(-1, -1, S, S)
    fake = torch.tanh(conv1x1(torch.cat([x, planes], 1), g, "conv"))
    l_sem = cross_entropy(f(fake), f(x).argmax(1))
    assert "g_sem" not in logs[0.0]
    assert_logged(logs[0.4], {"g_sem": l_sem})
    g_sem = grads(l_sem, g)
    assert_nonnegligible(*(lr_g * 0.4 * v for v in g_sem.values()))
    for n in g:
        torch.testing.assert_close(
            runs[0.4][0][n] - runs[0.0][0][n], -lr_g * 0.4 * g_sem[n], rtol=1e-9, atol=1e-12
        )
    for n in runs[0.0][1]:
        torch.testing.assert_close(runs[0.4][1][n], runs[0.0][1][n], rtol=0, atol=0)
    assert_params(f, {n: q.detach() for n, q in f_before.items()})


# ---------------------------------------------------------------- gradient penalty


def test_gradient_penalty_of_a_linear_critic_and_its_gradient():
    """critic(v) = Σ w ⊙ v: ∇_x̂ critic = w for every x̂, so GP = (‖w‖ − 1)² whatever ε is,
    ∂GP/∂w = 2(‖w‖ − 1) w/‖w‖ (the penalty is differentiable in D's parameters), and nothing
    flows back into the generated images.
    """
    torch.manual_seed(6)
    w = torch.randn(C, S, S, dtype=DT, requires_grad=True)
    real = torch.randn(4, C, S, S, dtype=DT)
    fake = torch.randn(4, C, S, S, dtype=DT, requires_grad=True)

    gp = gradient_penalty(lambda v: (v * w).sum((1, 2, 3)), real, fake * 1.0, None)

    norm = w.detach().norm()
    torch.testing.assert_close(gp.detach(), (norm - 1) ** 2, rtol=1e-12, atol=0)
    (grad_w,) = torch.autograd.grad(gp, w)
    torch.testing.assert_close(grad_w, 2 * (norm - 1) * w.detach() / norm, rtol=1e-12, atol=1e-14)
    gp2 = gradient_penalty(lambda v: (v * w).sum((1, 2, 3)), real, fake, None)
    gp2.backward()
    assert fake.grad is None


def test_gradient_penalty_interpolates_with_one_epsilon_per_sample():
    """critic(v) = ½ a ‖v‖²: ∇ = a x̂ with x̂_i = ε_i x_i + (1 − ε_i) x̃_i, ε = rand(N) drawn from the
    generator, so GP = mean_i (a‖x̂_i‖ − 1)² and ∂GP/∂a = mean_i 2(a‖x̂_i‖ − 1)‖x̂_i‖.
    """
    torch.manual_seed(7)
    a = torch.tensor(0.8, dtype=DT, requires_grad=True)
    real, fake = torch.randn(5, C, S, S, dtype=DT), torch.randn(5, C, S, S, dtype=DT)

    def critic(v):
        return 0.5 * a * v.pow(2).sum((1, 2, 3))

    gp = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(3))

    eps = torch.rand(5, generator=torch.Generator().manual_seed(3)).to(DT)[:, None, None, None]
    norms = (eps * real + (1 - eps) * fake).flatten(1).norm(dim=1)
    torch.testing.assert_close(gp.detach(), ((a.detach() * norms - 1) ** 2).mean())
    (grad_a,) = torch.autograd.grad(gp, a)
    torch.testing.assert_close(grad_a, (2 * (a.detach() * norms - 1) * norms).mean())


# ---------------------------------------------------------------- CDAN (+E)


def test_multilinear_map_is_the_flattened_outer_product():
    """T⊗(f, g)[n, k·d + j] = g[n, k] · f[n, j]: N×(K·d), no parameters."""
    torch.manual_seed(8)
    f, g = torch.randn(4, 3, dtype=DT), torch.randn(4, 2, dtype=DT).softmax(1)
    mapping = MultilinearMap(3, 2)

    out = mapping(f, g)

    assert out.shape == (4, 6) and mapping.out_features == 6
    for n in range(4):
        for k in range(2):
            for j in range(3):
                assert out[n, k * 3 + j] == g[n, k] * f[n, j]
    assert not list(mapping.parameters())


def test_randomized_multilinear_map_uses_fixed_untrained_gaussian_matrices():
    """T⊙(f, g) = (R_f f) ⊙ (R_g g) / √d_out with R_f (d_out×d), then R_g (d_out×K), drawn from
    the generator once: buffers, not parameters, the same at every call and after a step."""
    torch.manual_seed(9)
    d, k, d_out = 3, 2, 5
    mapping = RandomizedMultilinearMap(d, k, d_out, torch.Generator().manual_seed(4)).double()
    again = torch.Generator().manual_seed(4)
    r_f, r_g = torch.randn(d_out, d, generator=again), torch.randn(d_out, k, generator=again)
    torch.testing.assert_close(mapping.r_f, r_f.to(DT), rtol=0, atol=0)
    torch.testing.assert_close(mapping.r_g, r_g.to(DT), rtol=0, atol=0)
    assert not list(mapping.parameters())
    assert {n for n, _ in mapping.named_buffers()} == {"r_f", "r_g"}
    f = torch.randn(4, d, dtype=DT, requires_grad=True)
    g = torch.randn(4, k, dtype=DT).softmax(1)

    out = mapping(f, g)

    expected = torch.empty(4, d_out, dtype=DT)
    for n in range(4):
        for i in range(d_out):
            rf = sum(mapping.r_f[i, j] * f[n, j] for j in range(d))
            rg = sum(mapping.r_g[i, c] * g[n, c] for c in range(k))
            expected[n, i] = rf * rg / math.sqrt(d_out)
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-14)
    out.sum().backward()  # the gradient reaches f, never R
    assert f.grad is not None and not mapping.r_f.requires_grad and not mapping.r_g.requires_grad
    torch.testing.assert_close(mapping(f, g), out, rtol=0, atol=0)


def softmax(z: torch.Tensor) -> torch.Tensor:
    return z.exp() / z.exp().sum(1, keepdim=True)


def all_grads(loss: torch.Tensor, params: Params) -> Params:
    """∂loss/∂θ for every θ of `params`; zero for the θ the loss does not depend on."""
    values = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
    return {
        n: torch.zeros_like(p) if v is None else v
        for (n, p), v in zip(params.items(), values, strict=True)
    }


@pytest.mark.parametrize("entropy", [False, True], ids=["cdan", "cdan+e"])
@pytest.mark.parametrize("randomized", [False, True], ids=["outer", "randomized"])
def test_cdan_step_reverses_lambda_times_the_conditional_domain_gradient(randomized, entropy):
    """CDAN(+E) GRL step, lam = 0.7, one SGD step over F, C, D (d = K = 3):

    g = softmax(C(f)); ĝ: g held constant. T = ĝ ⊗ f flattened, or (R_f f) ⊙ (R_g ĝ) / √d_out.
    w = 1 + exp(−H(g)), H(g) = −Σ g log g for CDAN+E (w = 1 for CDAN), w̃ = w / Σ_domain w with
    the sums held constant, and
    L_d = ½[Σ_s w̃ (−log σ(D(T_s))) + Σ_t w̃ (−log(1 − σ(D(T_t))))]
    F, C ← · − lr (∂L_y/∂· − λ ∂L_d/∂·),   D ← D − lr ∂L_d/∂D,   R_f, R_g unchanged.
    L_d reaches C only through w: not at all for CDAN, reversed for CDAN+E.
    """
    torch.manual_seed(3)
    model = TinyClassifier().double()
    if randomized:
        mapping = RandomizedMultilinearMap(3, 3, 5, torch.Generator().manual_seed(0)).double()
    else:
        mapping = MultilinearMap(3, 3)
    disc = TinyDisc(mapping.out_features).double()
    x_s, y_s, x_t = dann_batch()
    lam, lr = 0.7, 0.5
    m, d = snapshot(model), snapshot(disc)
    fixed = {n: b.clone() for n, b in mapping.named_buffers()}
    opt = torch.optim.SGD([*model.parameters(), *disc.parameters()], lr=lr)

    logs = cdan_step(model, disc, mapping, opt, x_s, y_s, x_t, lam, entropy)

    def conditioned(f, z):
        g = softmax(z).detach()
        if not randomized:
            return (g[:, :, None] * f[:, None, :]).reshape(len(f), -1)
        return (f @ fixed["r_f"].T) * (g @ fixed["r_g"].T) / math.sqrt(5)

    def weighted_mean(values, z):
        if not entropy:
            return values.mean()
        p = softmax(z)
        w = 1 + torch.exp((p * p.log()).sum(1))  # 1 + exp(−H)
        return (w * values).sum() / w.sum().detach()

    f_s, f_t = feat(x_s, m), feat(x_t, m)
    z_s, z_t = linear(f_s, m, "head"), linear(f_t, m, "head")
    cls_loss = cross_entropy(z_s, y_s)
    d_s, d_t = disc_logits(conditioned(f_s, z_s), d), disc_logits(conditioned(f_t, z_t), d)
    domain_loss = 0.5 * (
        weighted_mean(-F.logsigmoid(d_s), z_s) + weighted_mean(-F.logsigmoid(-d_t), z_t)
    )
    assert_logged(logs, {"cls_loss": cls_loss, "domain_loss": domain_loss})
    assert logs["domain_acc"] == acc(d_s, d_t)

    g_cls, g_dom = grads(cls_loss, m), all_grads(domain_loss, m)
    assert_nonnegligible(*(lr * lam * g_dom[n] for n in ("encoder.0.weight", "encoder.0.bias")))
    if entropy:  # the entropy weights' own gradient, reversed, reaches C
        assert_nonnegligible(lr * lam * g_dom["head.weight"])
    else:
        assert not g_dom["head.weight"].any() and not g_dom["head.bias"].any()
    assert_params(model, sgd(m, {n: g - lam * g_dom[n] for n, g in g_cls.items()}, lr))
    assert_params(disc, sgd(d, grads(domain_loss, d), lr))  # D descends L_d: no reversal
    for n, b in mapping.named_buffers():
        assert torch.equal(b, fixed[n]), n
