r"""Probes of Santurkar et al. (2018): "noisy" BN, gradient-based internal covariate shift, and the
loss landscape along the gradient.

Three tools for lesson 08, each the plumbing behind one measurement whose formula the lesson shows:

* :class:`NoisyBatchNorm`: BN followed by random, time-varying noise (their Algorithm 1),

  .. math:: y_{ij} = s_{ij}\,\mathrm{BN}(x)_{ij} + m_{ij}, \quad
            \mu_j \sim U(-n_\mu, n_\mu),\ \sigma_j \sim U(1, n_\sigma),\quad
            m_{ij} \sim U(\mu_j - r_\mu, \mu_j + r_\mu),\ s_{ij} \sim \mathcal N(\sigma_j, r_\sigma^2),

  all of it re-drawn at every training step (:func:`redraw_noise`).
* :func:`ics_gradients`: the gradient :math:`G` of one layer's weights, and the same gradient
  :math:`G'` after every layer before it has taken its SGD step :math:`\theta \leftarrow \theta - \eta\nabla`.
  :func:`lower_step_norms` gives the length of that step, to normalise :math:`\lVert G - G'\rVert`.
* :func:`gradient_line`: loss and gradient at :math:`\theta - \eta g` for several step sizes
  :math:`\eta`, where :math:`g` is the gradient at :math:`\theta`.

:func:`train_probed` is the SGD loop that re-draws the noise every step and calls a probe on the
current batch before chosen updates. Probes work on deep copies: the trained model, its BN running
statistics and its noise are never changed by a measurement.

Lesson that imports it: 08.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..nn import BatchNorm
from .data import Dataset
from .sgd import SGD
from .training import History, TrainConfig, accuracy, minibatches


@dataclass(frozen=True)
class NoiseConfig:
    """Constants of the noise model (defaults: the values Santurkar et al. report for Algorithm 1)."""

    n_mu: float = 0.5  # per-unit mean mu_j ~ U(-n_mu, n_mu), re-drawn every step
    n_sigma: float = 1.25  # per-unit scale sigma_j ~ U(1, n_sigma), re-drawn every step
    r_mu: float = 0.1  # per-value shift m_ij ~ U(mu_j - r_mu, mu_j + r_mu)
    r_sigma: float = 0.1  # per-value scale s_ij ~ N(sigma_j, r_sigma^2)

    def __post_init__(self):
        if min(self.n_mu, self.r_mu, self.r_sigma) < 0 or self.n_sigma < 1:
            raise ValueError(f"need n_mu, r_mu, r_sigma >= 0 and n_sigma >= 1, got {self}")


def draw_noise(
    shape: tuple[int, int], config: NoiseConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step's noise for a batch of BN outputs of shape ``(m, C)``: ``(scale s, shift m)``, both ``(m, C)``.

    Per unit ``j``: ``mu_j ~ U(-n_mu, n_mu)``, ``sigma_j ~ U(1, n_sigma)``; per value ``(i, j)``:
    ``m_ij ~ U(mu_j - r_mu, mu_j + r_mu)``, ``s_ij ~ N(sigma_j, r_sigma^2)`` (float32).
    """
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (m, C) with m, C >= 1, got {shape}")
    rows, units = shape
    mu = (torch.rand(units, generator=generator) * 2 - 1) * config.n_mu  # (C,)
    sigma = 1 + torch.rand(units, generator=generator) * (config.n_sigma - 1)  # (C,)
    shift = mu + (torch.rand(rows, units, generator=generator) * 2 - 1) * config.r_mu  # (m, C)
    scale = sigma + torch.randn(rows, units, generator=generator) * config.r_sigma  # (m, C)
    return scale, shift


class NoisyBatchNorm(BatchNorm):
    r""":class:`bnlib.nn.BatchNorm` whose output, in training mode, gets the noise of :func:`draw_noise`.

    ``y = scale * BN(x) + shift`` for ``x`` of shape ``(m, C)``; only this step differs from BN. The
    noise is drawn when :meth:`redraw` is called (or on the first training forward after
    construction) and is then held fixed, so every forward pass within one training step sees the
    same noise. In eval mode the layer is plain BN with its running statistics.

    Args:
        num_features: number of units ``C``.
        config: the noise constants. seed: seed of the layer's private noise generator.
        others (keyword): as :class:`bnlib.nn.BatchNorm`.
    """

    def __init__(self, num_features: int, config: NoiseConfig = NoiseConfig(), seed: int = 0, **batchnorm):
        super().__init__(num_features, **batchnorm)
        self.config = config
        self.generator = torch.Generator().manual_seed(seed)
        self.scale: torch.Tensor | None = None  # (m, C) current noise, None until drawn
        self.shift: torch.Tensor | None = None

    def redraw(self, batch_size: int) -> None:
        """Draw this step's noise for a batch of ``batch_size`` examples."""
        self.scale, self.shift = draw_noise((batch_size, self.num_features), self.config, self.generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)  # (m, C)
        if not self.training:
            return y
        if self.scale is None:
            self.redraw(x.shape[0])
        if self.scale.shape != y.shape:
            raise ValueError(
                f"noise was drawn for a batch of shape {tuple(self.scale.shape)}, "
                f"got {tuple(y.shape)}: call redraw(batch_size) first"
            )
        return self.scale.to(y.dtype) * y + self.shift.to(y.dtype)


def add_noise(model: nn.Sequential, config: NoiseConfig = NoiseConfig(), seed: int = 0) -> nn.Sequential:
    """A copy of ``model`` whose every :class:`bnlib.nn.BatchNorm` is replaced by a :class:`NoisyBatchNorm`
    with that BN's hyper-parameters, parameters and buffers (copied); layer ``k`` (0-based) draws its
    noise with seed ``1000 * seed + k``. Other layers are copied unchanged."""
    layers, k = [], 0
    for layer in model:
        if type(layer) is BatchNorm:
            noisy = NoisyBatchNorm(
                layer.num_features,
                config,
                seed=1000 * seed + k,
                eps=layer.eps,
                momentum=layer.momentum,
                affine=layer.affine,
                track_running_stats=layer.track_running_stats,
                bias=layer.bias is not None,
                dtype=next((t.dtype for t in layer.state_dict().values() if t.is_floating_point()), None),
            )
            noisy.load_state_dict(layer.state_dict())
            layers.append(noisy.train(layer.training))
            k += 1
        else:
            layers.append(copy.deepcopy(layer))
    if k == 0:
        raise ValueError("the model has no BatchNorm layer to add noise to")
    return nn.Sequential(*layers)


def redraw_noise(model: nn.Module, batch_size: int) -> None:
    """Draw new noise in every :class:`NoisyBatchNorm` of ``model`` (no-op for a model without any)."""
    for module in model.modules():
        if isinstance(module, NoisyBatchNorm):
            module.redraw(batch_size)


def linear_layers(model: nn.Sequential) -> list[int]:
    """Positions in ``model`` of its ``nn.Linear`` layers, in order (layer ``i`` is the i-th of them)."""
    return [k for k, layer in enumerate(model) if isinstance(layer, nn.Linear)]


def _flat_grad(parameters) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in parameters])


def ics_gradients(
    model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, lr: float, layer: int
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Santurkar et al.'s Definition 2.1 for the weights of linear layer ``layer`` (0-based, >= 1).

    ``G``: gradient of the cross-entropy on ``(x, y)`` with respect to that layer's weight, at the
    current parameters. ``G'``: the same gradient after every parameter of every module *before*
    that layer (linear layers and BN layers alike) has taken the SGD step ``p <- p - lr * grad p``
    computed at the current parameters; the layer itself and everything after it keep their values,
    and the batch (and any noise) stays the same. Computed on a copy: ``model`` is not changed.

    Returns:
        ``(G, G')``, each flattened to ``(out_features * in_features,)``, float as the model.
    """
    positions = linear_layers(model)
    if not 1 <= layer < len(positions):
        raise ValueError(f"layer must be in [1, {len(positions) - 1}] (it needs a layer before it), got {layer}")
    work = copy.deepcopy(model).train()
    cut = positions[layer]
    preceding = [p for module in work[:cut] for p in module.parameters()]
    F.cross_entropy(work(x), y).backward()
    g = work[cut].weight.grad.reshape(-1).clone()  # (out * in,)
    with torch.no_grad():
        for p in preceding:
            p -= lr * p.grad
    work.zero_grad(set_to_none=True)
    F.cross_entropy(work(x), y).backward()
    return g, work[cut].weight.grad.reshape(-1).clone()


def lower_step_norms(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, lr: float) -> list[float]:
    r"""The size of the step that turns :math:`G` into :math:`G'` in :func:`ics_gradients`, per layer.

    Element ``l`` (0-based, one per linear layer) is :math:`\lVert \eta\, \nabla_{\theta_{<l}} L \rVert_2`,
    the Euclidean length of the SGD update of every parameter of every module before linear layer
    ``l`` (0.0 for layer 0, which has none), for the cross-entropy on ``(x, y)`` at the current
    parameters. Dividing :math:`\lVert G - G' \rVert_2` by it gives the change of a layer's gradient
    per unit of movement of the layers below. Computed on a copy: ``model`` is not changed.
    """
    work = copy.deepcopy(model).train()
    F.cross_entropy(work(x), y).backward()
    norms = []
    for cut in linear_layers(work):
        squares = [p.grad.pow(2).sum() for module in work[:cut] for p in module.parameters()]
        norms.append(lr * torch.stack(squares).sum().sqrt().item() if squares else 0.0)
    return norms


@dataclass
class LineProbe:
    """Loss and gradient along the negative gradient, from :func:`gradient_line`.

    Attributes:
        step_sizes: ``(K,)`` the step sizes ``eta``.
        loss0: loss at ``theta``; grad0: ``(P,)`` the gradient ``g`` there (all P parameters).
        losses: ``(K,)`` loss at ``theta - eta_k g``; grads: ``(K, P)`` gradient there.
    """

    step_sizes: torch.Tensor
    loss0: float
    grad0: torch.Tensor
    losses: torch.Tensor
    grads: torch.Tensor


def gradient_line(model: nn.Module, x: torch.Tensor, y: torch.Tensor, step_sizes) -> LineProbe:
    r"""Loss and full gradient of the cross-entropy on ``(x, y)`` at ``theta - eta g`` for each ``eta``
    in ``step_sizes``, where ``g`` is the gradient at the current parameters ``theta``. Training mode,
    same batch and same noise throughout; computed on copies, ``model`` is not changed."""
    step_sizes = torch.as_tensor(step_sizes, dtype=torch.float64)
    if step_sizes.dim() != 1 or len(step_sizes) == 0 or not bool((step_sizes > 0).all()):
        raise ValueError(f"step_sizes must be a non-empty 1-d sequence of positive numbers, got {step_sizes}")
    base = copy.deepcopy(model).train()
    loss0 = F.cross_entropy(base(x), y)
    loss0.backward()
    params = list(base.parameters())
    grad0 = _flat_grad(params)  # (P,)
    moved = copy.deepcopy(base)  # one copy, moved to each point
    moved_params = list(moved.parameters())
    losses, grads = [], []
    for eta in step_sizes.tolist():
        moved.zero_grad(set_to_none=True)
        with torch.no_grad():
            for p, q in zip(moved_params, params):
                p.copy_(q - eta * q.grad)
        loss = F.cross_entropy(moved(x), y)
        loss.backward()
        losses.append(loss.item())
        grads.append(_flat_grad(moved_params))
    return LineProbe(step_sizes, loss0.item(), grad0, torch.tensor(losses, dtype=torch.float64), torch.stack(grads))


def activation_inputs(
    model: nn.Sequential, x: torch.Tensor, activation: type[nn.Module] = nn.Sigmoid
) -> list[torch.Tensor]:
    """The input of every ``activation`` module of ``model`` for the batch ``x``, in training mode
    (with the current noise), computed on a copy: a list of ``(N, units)`` tensors, one per layer."""
    work = copy.deepcopy(model).train()
    caught = []
    hooks = [
        m.register_forward_pre_hook(lambda module, inputs: caught.append(inputs[0].detach()))
        for m in work
        if isinstance(m, activation)
    ]
    with torch.no_grad():
        work(x)
    for h in hooks:
        h.remove()
    return caught


class MomentRecorder:
    """Batch statistics of the input of every ``activation`` module, at every training-mode forward
    pass of ``model`` itself (copies made by the probes, and eval-mode passes, are not recorded).

    After ``n`` training steps :meth:`means` and :meth:`stds` are ``(n, layers, units)`` arrays (the
    batch mean and the unbiased batch standard deviation of each unit's input), and
    :meth:`unit_percentiles` is ``(n, layers, len(levels))`` for unit ``unit`` of each layer.
    Use as a context manager or call :meth:`remove`.
    """

    def __init__(
        self,
        model: nn.Module,
        activation: type[nn.Module] = nn.Sigmoid,
        unit: int = 0,
        levels: tuple[float, ...] = (15, 50, 85),
    ):
        self.targets = [m for m in model.modules() if isinstance(m, activation)]
        if not self.targets:
            raise ValueError(f"the model has no {activation.__name__} module")
        self.unit, self.levels = unit, torch.tensor(levels, dtype=torch.float64) / 100
        self._rows: list[list] = []
        self._hooks = [m.register_forward_pre_hook(self._hook()) for m in self.targets]

    def _hook(self):
        # A closure, not a bound method: copy.deepcopy shares functions but copies a bound method's
        # object, so a probe's deep copy of the model would otherwise copy this recorder and every row
        # it holds, at a cost that grows with training. The copy's modules call this recorder, which
        # ignores them (they are not its targets).
        def hook(module, inputs):
            if module not in self.targets or not module.training:  # a probe's copy, or eval mode
                return
            z = inputs[0].detach()  # (N, units)
            if module is self.targets[0]:
                self._rows.append([])
            self._rows[-1].append((z.mean(dim=0), z.std(dim=0), torch.quantile(z[:, self.unit].double(), self.levels)))

        return hook

    def _stack(self, k: int):
        return torch.stack([torch.stack([layer[k] for layer in row]) for row in self._rows]).numpy()

    def means(self):
        return self._stack(0)

    def stds(self):
        return self._stack(1)

    def unit_percentiles(self):
        return self._stack(2)

    def remove(self) -> None:
        for h in self._hooks:
            h.remove()

    def __enter__(self) -> "MomentRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


@dataclass
class ProbedHistory(History):
    """A :class:`bnlib.lab.training.History` plus what the probe returned.

    Attributes:
        probe_steps: number of updates done before each probe (0, probe_every, ...).
        probes: what ``probe(model, x, y, step)`` returned at each of ``probe_steps``.
    """

    probe_steps: list[int] = field(default_factory=list)
    probes: list = field(default_factory=list)


def train_probed(
    model: nn.Module,
    data: Dataset,
    config: TrainConfig,
    probe_every: int,
    probe: Callable[[nn.Module, torch.Tensor, torch.Tensor, int], object],
) -> ProbedHistory:
    """Plain mini-batch SGD on the cross-entropy, like :func:`bnlib.lab.training.train` (same batch
    order for the same ``config.seed``), with two additions: before every update the noise of every
    :class:`NoisyBatchNorm` is re-drawn, and before updates ``0, probe_every, 2 * probe_every, ...``
    ``probe(model, x_batch, y_batch, step)`` is called on that update's batch (after the noise is
    drawn; ``step`` is the number of updates done so far).

    ``config.momentum`` and ``config.weight_decay`` must be 0: the probes assume the update
    ``theta <- theta - lr * grad``. Test accuracy is measured in eval mode (no noise) every
    ``config.eval_every`` updates and at the end.
    """
    if config.momentum != 0 or config.weight_decay != 0:
        raise ValueError("train_probed needs plain SGD: momentum = weight_decay = 0")
    if probe_every < 1:
        raise ValueError(f"probe_every must be >= 1, got {probe_every}")
    optimizer = SGD(model.parameters(), lr=config.lr)
    batches = minibatches(len(data.y_train), config.batch_size, torch.Generator().manual_seed(config.seed))
    history = ProbedHistory()
    model.train()
    history.eval_steps.append(0)
    history.test_accuracy.append(accuracy(model, data.x_test, data.y_test))
    for step in range(config.steps):
        index = next(batches)  # (batch_size,)
        x, y = data.x_train[index], data.y_train[index]
        redraw_noise(model, len(index))
        if step % probe_every == 0:
            history.probe_steps.append(step)
            history.probes.append(probe(model, x, y, step))
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.train_loss.append(loss.item())
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            history.eval_steps.append(step + 1)
            history.test_accuracy.append(accuracy(model, data.x_test, data.y_test))
    return history
