r"""Feedback for the exercises: run a student's function, and name the mistake when it is a known one.

One check per exercise (``exercises/``), each taking the student's function::

    check_batchnorm_forward(fn)    fn(x, gamma, beta, eps) -> y
    check_running_update(fn)       fn(running_mean, running_var, x, momentum) -> (new_mean, new_var)
    check_batchnorm_backward(fn)   fn(dy, x, gamma, beta, eps) -> (dx, dgamma, dbeta)
    check_fold_batchnorm(fn)       fn(W, b, gamma, beta, mean, var, eps) -> (W_folded, b_folded)

Inputs are ``(N, C)`` or ``(N, C, H, W)``; the linear layer of the folding exercise is
``y = x @ W.T + b``. Each check runs ``fn`` on a few fixed inputs chosen so that the classic
mistakes give visibly different answers (a channel with a tiny variance makes ε's place matter;
``N != C`` and ``W != C`` make a wrong axis fail loudly), compares with bnlib, and returns a
:class:`CheckResult`. When an answer is wrong it compares it with each known mistake, computed
here on purpose, and says in plain words which one it is:

statistics over the wrong axes (channels instead of the batch; a convolution's input not reduced
over H and W), one scalar statistic shared by all channels, the unbiased variance where the biased
one belongs (or the other way round), momentum weights reversed, ε outside the square root, γ and
β not applied, a backward pass missing the terms through μ or σ², folding that forgets the bias or
drops ε. A check never raises: a crash, a wrong shape, NaN, or nbgrader's ``NotImplementedError``
stub become messages.

Pure numpy: ``import bnlib.checks`` does not import torch.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .fold import fold_batchnorm
from .functional import batch_statistics, batchnorm_backward, batchnorm_forward
from .running_stats import update_running_stats

RTOL, ATOL = 1e-5, 1e-7


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        exercise: the function checked, e.g. ``"batchnorm_forward"``.
        passed: True when every case agreed with bnlib.
        message: what was checked, or what is wrong, in a student's words.
        mistake: short key of the recognised mistake (e.g. ``"eps_outside_sqrt"``), or None.
    """

    exercise: str
    passed: bool
    message: str
    mistake: str | None = None

    def __str__(self) -> str:
        return f"{self.exercise}: {'PASSED' if self.passed else 'NOT YET'}. {self.message}"

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        mark = "✅ **passed**" if self.passed else "❌ **not yet**"
        return f"`{self.exercise}`: {mark}. {self.message}"


class _Wrong(Exception):
    """Raised inside a check to stop at the first wrong case with a message."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.message, self.mistake = message, mistake


# ---------------------------------------------------------------- inputs the checks use
def _channel_data(shape, rng) -> np.ndarray:
    """Data whose channels have different offsets and spreads; channel 2 has a tiny variance (1e-4)."""
    x = rng.standard_normal(shape)
    c = shape[1]
    means, stds = np.array([5.0, -2.0, 0.3])[:c], np.array([2.0, 0.5, 0.01])[:c]
    return x * stds.reshape((1, c) + (1,) * (len(shape) - 2)) + means.reshape((1, c) + (1,) * (len(shape) - 2))


SHAPES = [(6, 3), (4, 3, 2, 5)]  # N != C and W != C, so a statistic or γ on the wrong axis fails loudly
GAMMA, BETA = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.3, 1.0])
EPS = 1e-3  # large against channel 2's variance 1e-4: ε's place matters


def _per_channel(v, ndim):
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def _axes(ndim):
    return (0,) + tuple(range(2, ndim))


def _describe(shape):
    return "(N, C)" if len(shape) == 2 else "(N, C, H, W)"


# ---------------------------------------------------------------- running the student's code
def _call(fn: Callable, *args):
    """Call ``fn`` on copies of ``args``; turn what it raises into a :class:`_Wrong`."""
    try:
        return fn(*[np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args])
    except NotImplementedError:
        raise _Wrong(
            "not implemented yet: replace `raise NotImplementedError()` with your code.", "not_implemented"
        ) from None
    except Exception as error:  # the student's bug, reported
        hint = ""
        if "broadcast" in str(error):
            hint = (
                " A broadcasting error usually means a statistic or γ/β has the wrong shape: for "
                "(N, C) input a per-channel vector has shape (C,); for (N, C, H, W) input it must "
                "be reshaped to (1, C, 1, 1) before it meets x."
            )
        raise _Wrong(f"your function raised {type(error).__name__}: {error}.{hint}", "raised") from None


def _as_array(value, what: str, shape) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _Wrong(f"{what} should be an array of shape {shape}, got {type(value).__name__}.", "wrong_type") from None
    if array.shape != tuple(shape):
        raise _Wrong(f"{what} has shape {array.shape}, expected {tuple(shape)}.", "wrong_shape")
    if not np.all(np.isfinite(array)):
        raise _Wrong(f"{what} contains NaN or inf.", "not_finite")
    return array


def _unpack(result, n: int, names: str):
    if not isinstance(result, (tuple, list)) or len(result) != n:
        raise _Wrong(
            f"return a tuple {names}; got {type(result).__name__}"
            + (f" of length {len(result)}" if isinstance(result, (tuple, list)) else "")
            + ".",
            "wrong_return",
        )
    return result


def _close(a, b) -> bool:
    return np.shape(a) == np.shape(b) and np.allclose(a, b, rtol=RTOL, atol=ATOL)


def _diagnose(answer, correct, mistakes, what: str, case: str):
    """Raise a :class:`_Wrong` naming the first known mistake ``answer`` matches, else a generic one."""
    if _close(answer, correct):
        return
    for key, (candidate, message) in mistakes.items():
        if candidate is not None and _close(answer, candidate):
            raise _Wrong(f"{what} is wrong for {case} input. {message}", key)
    error = np.abs(np.asarray(answer) - correct)
    channel_axes = tuple(i for i in range(error.ndim) if i != (1 if error.ndim > 1 else 0))
    per_channel = error.max(axis=channel_axes) if error.ndim > 1 else error
    raise _Wrong(
        f"{what} is wrong for {case} input: it differs from the correct value by up to "
        f"{error.max():.2g} (channel {int(np.argmax(per_channel))} is furthest off). "
        "Check each step against the equations above.",
        "wrong_values",
    )


def _run(exercise: str, cases: Callable[[], str]) -> CheckResult:
    try:
        summary = cases()
    except _Wrong as wrong:
        return CheckResult(exercise, False, wrong.message, wrong.mistake)
    return CheckResult(exercise, True, summary)


# ---------------------------------------------------------------- exercise 1: forward
def _forward_variants(x, gamma, beta, eps):
    """The correct forward pass and the classic mistakes, each as the output it produces."""
    nd, axes = x.ndim, _axes(x.ndim)
    g, b = _per_channel(gamma, nd), _per_channel(beta, nd)

    def norm(mu, var, eps_inside=True):
        return (x - mu) / (np.sqrt(var + eps) if eps_inside else np.sqrt(var) + eps)

    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    correct = g * norm(mu, var) + b
    wrong_axes = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    no_hw = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
    mistakes = {
        "channel_axis": (
            g * norm(*wrong_axes) + b,
            "Your statistics are taken over the channels of each example. BN takes one mean "
            "and one variance per channel, over the batch: `x.mean(axis=0)` for (N, C) input.",
        ),
        "not_over_hw": (
            g * norm(*no_hw) + b if nd > 2 else None,
            "Your statistics are per channel *and* per pixel position: for (N, C, H, W) input "
            "a channel's statistics pool the batch and all positions, "
            "`x.mean(axis=(0, 2, 3), keepdims=True)`.",
        ),
        "shared_scalar": (
            g * norm(x.mean(), x.var()) + b,
            "You use one mean and one variance for the whole input. BN keeps one of each "
            "per channel, so that every channel is normalised on its own.",
        ),
        "unbiased_variance": (
            g * norm(mu, x.var(axis=axes, ddof=1, keepdims=True)) + b,
            "You normalise with the unbiased variance (dividing by m - 1). Training-mode BN "
            "uses the biased batch variance, dividing by m; the unbiased one is only for "
            "the running estimate.",
        ),
        "eps_outside_sqrt": (
            g * norm(mu, var, eps_inside=False) + b,
            "ε is added outside the square root, (x - μ) / (√σ² + ε). It belongs inside: "
            "(x - μ) / √(σ² + ε). The two differ when a channel's variance is small, as "
            "in this check's third channel.",
        ),
        "no_sqrt": (
            g * (x - mu) / (var + eps) + b,
            "You divide by the variance plus ε, not by its square root: x̂ = (x - μ) / √(σ² + ε).",
        ),
        "gamma_beta_not_applied": (
            norm(mu, var),
            "Your output is x̂ itself: γ and β are not applied. The output is y = γ·x̂ + β.",
        ),
        "gamma_beta_swapped": (b * norm(mu, var) + g, "γ and β are swapped: γ scales x̂ and β shifts it, y = γ·x̂ + β."),
    }
    return correct, mistakes


def check_batchnorm_forward(fn) -> CheckResult:
    r"""Check ``fn(x, gamma, beta, eps) -> y``, training-mode BN forward.

    .. math:: \mu_B = \tfrac1m \sum_i x_i,\ \sigma^2_B = \tfrac1m \sum_i (x_i - \mu_B)^2,\
              y = \gamma \frac{x - \mu_B}{\sqrt{\sigma^2_B + \epsilon}} + \beta

    per channel, over the batch (and H, W). Runs ``(6, 3)`` and ``(4, 3, 2, 5)`` inputs. A function
    that returns ``(y, cache)`` is accepted too.
    """

    def cases():
        rng = np.random.default_rng(0)
        for shape in SHAPES:
            x = _channel_data(shape, rng)
            correct = batchnorm_forward(x, GAMMA, BETA, EPS)[0]
            result = _call(fn, x, GAMMA, BETA, EPS)
            if isinstance(result, tuple):
                result = result[0]
            answer = _as_array(result, "the output y", x.shape)
            _diagnose(answer, correct, _forward_variants(x, GAMMA, BETA, EPS)[1], "the output y", _describe(shape))
        return (
            "(N, C) and (N, C, H, W) inputs agree with bnlib, including a channel with a tiny "
            "variance (ε inside the square root) and γ, β applied per channel."
        )

    return _run("batchnorm_forward", cases)


# ---------------------------------------------------------------- exercise 2: running statistics
RUNNING_MEAN, RUNNING_VAR = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 0.5])


def _probe_shapes(fn, x, momentum) -> list:
    """Shapes ``fn`` returns when the running estimates are the scalar 0: the shapes of its statistics."""
    try:
        result = fn(0.0, 0.0, np.array(x, copy=True), momentum)
        return [np.shape(v) for v in result] if isinstance(result, (tuple, list)) else []
    except Exception:  # nothing more to learn from this function
        return []


def _statistic_shape(shapes, x_shape) -> None:
    """Raise a :class:`_Wrong` naming the mistake if a returned statistic's shape shows wrong axes."""
    for what, shape_now in zip(("new_mean", "new_var"), shapes):
        if len(x_shape) > 2 and shape_now in (x_shape[1:], (1,) + x_shape[1:]):
            raise _Wrong(
                f"{what} has shape {shape_now}: the statistics of (N, C, H, W) input were not "
                "reduced over H and W. Reduce over axes (0, 2, 3) to get one value per channel.",
                "not_over_hw",
            )
        if shape_now in ((x_shape[0],), (x_shape[0], 1)):
            raise _Wrong(
                f"{what} has one value per example: the statistics were taken over the channels "
                "instead of over the batch (axis 0).",
                "channel_axis",
            )
        if shape_now == ():
            raise _Wrong(
                f"{what} is a single number: one statistic is shared by all channels. Keep one "
                "per channel, shape (C,).",
                "shared_scalar",
            )


def check_running_update(fn) -> CheckResult:
    r"""Check ``fn(running_mean, running_var, x, momentum) -> (new_mean, new_var)``, PyTorch's update.

    .. math:: \hat\mu \leftarrow (1 - \text{momentum})\,\hat\mu + \text{momentum}\cdot\mu_B,\qquad
              \hat\sigma^2 \leftarrow (1 - \text{momentum})\,\hat\sigma^2 + \text{momentum}\cdot\tfrac{m}{m-1}\sigma^2_B

    with ``momentum`` the weight of the new batch and the *unbiased* batch variance (``m`` values per
    channel: N, or N·H·W). Runs ``(6, 3)`` and ``(4, 3, 2, 5)`` inputs with momentum 0.1 and 0.25.
    """

    def cases():
        rng = np.random.default_rng(1)
        for shape, momentum in zip(SHAPES, (0.1, 0.25)):
            x = _channel_data(shape, rng)
            m = x.size // x.shape[1]
            mu, var = batch_statistics(x)
            new_mean, new_var, _ = update_running_stats(RUNNING_MEAN, RUNNING_VAR, mu, var, m, momentum)
            try:
                answer = _unpack(_call(fn, RUNNING_MEAN, RUNNING_VAR, x, momentum), 2, "(new_mean, new_var)")
            except _Wrong as wrong:
                if "broadcast" in wrong.message:  # a statistic of the wrong shape met the (C,) estimates:
                    _statistic_shape(_probe_shapes(fn, x, momentum), x.shape)  # find out which, from a probe
                raise
            _statistic_shape([np.shape(v) for v in answer], x.shape)
            got_mean = _as_array(answer[0], "new_mean", (shape[1],))
            got_var = _as_array(answer[1], "new_var", (shape[1],))
            r, k = (1 - momentum), momentum
            unbiased = var * m / (m - 1)
            _diagnose(
                got_mean,
                new_mean,
                {
                    "momentum_reversed": (
                        k * RUNNING_MEAN + r * mu,
                        "The momentum weights are reversed: in PyTorch `momentum` is the weight "
                        "of the *new* batch, new = (1 - momentum)·old + momentum·batch.",
                    ),
                    "no_update": (RUNNING_MEAN, "The running mean did not change: return the updated estimate."),
                    "batch_only": (
                        mu,
                        "You return the batch mean itself: blend it with the old estimate, "
                        "(1 - momentum)·old + momentum·batch.",
                    ),
                    "shared_scalar": (
                        np.full(shape[1], x.mean()) * k + r * RUNNING_MEAN,
                        "Every channel got the same batch mean: one statistic is shared by all "
                        "channels. Take the mean per channel.",
                    ),
                },
                "new_mean",
                _describe(shape),
            )
            _diagnose(
                got_var,
                new_var,
                {
                    "biased_variance": (
                        r * RUNNING_VAR + k * var,
                        "The running variance uses the biased batch variance (dividing by m). "
                        "PyTorch stores the unbiased one: multiply by m / (m - 1), with m = N "
                        "for (N, C) input and N·H·W for (N, C, H, W).",
                    ),
                    "bessel_with_n": (
                        r * RUNNING_VAR + k * var * shape[0] / (shape[0] - 1) if len(shape) > 2 else None,
                        "The Bessel factor uses N / (N - 1), but a channel of (N, C, H, W) input "
                        "has m = N·H·W values: use m / (m - 1).",
                    ),
                    "momentum_reversed": (
                        k * RUNNING_VAR + r * unbiased,
                        "The momentum weights are reversed: new = (1 - momentum)·old + momentum·batch.",
                    ),
                    "no_update": (RUNNING_VAR, "The running variance did not change: return the updated estimate."),
                    "batch_only": (unbiased, "You return the batch variance itself: blend it with the old estimate."),
                },
                "new_var",
                _describe(shape),
            )
        return (
            "(N, C) and (N, C, H, W) inputs agree with PyTorch's convention: momentum weighs the new "
            "batch, and the running variance is the unbiased one, m / (m - 1) · σ²_B."
        )

    return _run("running_update", cases)


# ---------------------------------------------------------------- exercise 3: backward
def _backward_variants(dy, x, gamma, eps):
    """Correct (dx, dgamma, dbeta) and the classic mistakes, each as the gradients it produces."""
    nd, axes = x.ndim, _axes(x.ndim)
    m = x.size // x.shape[1]

    def parts(ddof=0):
        mu = x.mean(axis=axes, keepdims=True)
        inv_std = 1 / np.sqrt(x.var(axis=axes, ddof=ddof, keepdims=True) + eps)
        return (x - mu) * inv_std, inv_std

    def mean(v):
        return v.mean(axis=axes, keepdims=True)

    x_hat, inv_std = parts()
    dx_hat = dy * _per_channel(gamma, nd)
    dgamma, dbeta = (dy * x_hat).sum(axis=axes), dy.sum(axis=axes)
    correct = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))
    xu, iu = parts(ddof=1)
    dx_mistakes = {
        "missing_var_path": (
            inv_std * (dx_hat - mean(dx_hat)),
            "dx misses the terms through σ²_B: σ² depends on every x, so ∂L/∂σ² contributes ∂L/∂σ²·2(x - μ)/m to dx.",
        ),
        "missing_mean_path": (
            inv_std * (dx_hat - x_hat * mean(dx_hat * x_hat)),
            "dx misses the terms through μ_B: μ depends on every x, so ∂L/∂μ contributes ∂L/∂μ / m to dx.",
        ),
        "no_statistics_path": (
            inv_std * dx_hat,
            "dx treats μ_B and σ²_B as constants (dx = γ·dy/√(σ² + ε)). In training mode "
            "they depend on x: add the paths through μ and σ².",
        ),
        "gamma_forgotten": (
            inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat)),
            "dx forgets γ: the gradient reaching x̂ is dy·γ, not dy.",
        ),
        "unbiased_variance": (
            iu * (dx_hat - mean(dx_hat) - xu * mean(dx_hat * xu) * m / (m - 1)),
            "The forward pass behind your dx uses the unbiased variance; training-mode BN "
            "normalises with the biased one (dividing by m).",
        ),
    }
    dgamma_mistakes = {
        "dgamma_dbeta_swapped": (dbeta, "dγ and dβ are swapped: dβ = Σ dy and dγ = Σ dy·x̂."),
        "dgamma_uses_x": ((dy * x).sum(axis=axes), "dγ uses x where it needs x̂: y = γ·x̂ + β, so dγ = Σ dy·x̂."),
    }
    dbeta_mistakes = {
        "dgamma_dbeta_swapped": (dgamma, "dγ and dβ are swapped: dβ = Σ dy and dγ = Σ dy·x̂."),
    }
    return (correct, dgamma, dbeta), (dx_mistakes, dgamma_mistakes, dbeta_mistakes)


def check_batchnorm_backward(fn) -> CheckResult:
    r"""Check ``fn(dy, x, gamma, beta, eps) -> (dx, dgamma, dbeta)``, the training-mode BN backward.

    .. math:: \frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2_B+\epsilon}}\Big(\hat g
              - \overline{\hat g} - \hat x\,\overline{\hat g\,\hat x}\Big),\quad \hat g = \gamma\,dy,\quad
              d\gamma = \textstyle\sum dy\,\hat x,\quad d\beta = \sum dy

    with bars the per-channel means over the batch (and H, W). Runs ``(6, 3)`` and ``(4, 3, 2, 5)``.
    """

    def cases():
        rng = np.random.default_rng(2)
        for shape in SHAPES:
            x = _channel_data(shape, rng)
            dy = rng.standard_normal(shape)
            _, cache = batchnorm_forward(x, GAMMA, BETA, EPS)
            reference = batchnorm_backward(dy, cache)
            mistakes = _backward_variants(dy, x, GAMMA, EPS)[1]
            answer = _unpack(_call(fn, dy, x, GAMMA, BETA, EPS), 3, "(dx, dgamma, dbeta)")
            for what, value in zip(("dgamma", "dbeta"), answer[1:]):
                if len(shape) > 2 and np.shape(value) == shape[1:]:
                    raise _Wrong(
                        f"{what} has shape {np.shape(value)}: for (N, C, H, W) input sum over the "
                        "batch and over H and W, axes (0, 2, 3).",
                        "not_over_hw",
                    )
            for what, value, want, known, out_shape in zip(
                ("dx", "dgamma", "dbeta"), answer, reference, mistakes, (shape, (3,), (3,))
            ):
                _diagnose(_as_array(value, what, out_shape), want, known, what, _describe(shape))
        return (
            "dx, dγ and dβ agree with bnlib for (N, C) and (N, C, H, W) inputs, including the paths "
            "through μ_B and σ²_B."
        )

    return _run("batchnorm_backward", cases)


# ---------------------------------------------------------------- exercise 4: folding
def check_fold_batchnorm(fn) -> CheckResult:
    r"""Check ``fn(W, b, gamma, beta, mean, var, eps) -> (W_folded, b_folded)``.

    For ``y = x @ W.T + b`` (``W`` of shape ``(out, in)``) followed by eval-mode BN over the ``out``
    features with statistics ``mean``, ``var``:

    .. math:: s = \frac{\gamma}{\sqrt{\mathrm{var} + \epsilon}},\quad W' = \mathrm{diag}(s)\,W,\quad
              b' = s\,(b - \mathrm{mean}) + \beta

    Runs a square ``(3, 3)`` and a ``(3, 5)`` weight; one feature has a variance of 1e-4, against ε = 1e-3.
    """

    def cases():
        rng = np.random.default_rng(3)
        mean, var = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.5, 1e-4])
        for shape in ((3, 3), (3, 5)):
            W, b = rng.standard_normal(shape), rng.standard_normal(3)
            W_ref, b_ref = fold_batchnorm(W, b, GAMMA, BETA, mean, var, EPS)
            s = GAMMA / np.sqrt(var + EPS)
            s_no_eps, s_var = GAMMA / np.sqrt(var), GAMMA / (var + EPS)
            answer = _unpack(_call(fn, W, b, GAMMA, BETA, mean, var, EPS), 2, "(W_folded, b_folded)")
            case = f"a {shape[0]}x{shape[1]} weight"
            got_W = _as_array(answer[0], "W_folded", shape)
            got_b = _as_array(answer[1], "b_folded", (3,))
            _diagnose(
                got_W,
                W_ref,
                {
                    "scale_on_inputs": (
                        W * s[None, :] if shape[0] == shape[1] else None,
                        "W is scaled along its columns (inputs). BN scales each *output* "
                        "feature, so row c of W is multiplied by s_c: `W * s[:, None]`.",
                    ),
                    "std_without_eps": (W * s_no_eps[:, None], "The scale uses √var without ε: s = γ / √(var + ε)."),
                    "var_not_std": (
                        W * s_var[:, None],
                        "The scale divides by the variance, not the standard deviation: s = γ / √(var + ε).",
                    ),
                },
                "W_folded",
                case,
            )
            _diagnose(
                got_b,
                b_ref,
                {
                    "forgot_bias": (
                        BETA - s * mean,
                        "b_folded forgets the layer's own bias b: the BN input is "
                        "x @ W.T + b, so b' = s·(b - mean) + β.",
                    ),
                    "std_without_eps": (
                        s_no_eps * (b - mean) + BETA,
                        "The scale uses √var without ε: s = γ / √(var + ε).",
                    ),
                    "forgot_beta": (s * (b - mean), "b_folded forgets β: b' = s·(b - mean) + β."),
                    "bias_not_scaled": (
                        b + BETA - s * mean,
                        "The layer's bias b is not scaled: it passes "
                        "through BN like the rest of the pre-activation, "
                        "b' = s·(b - mean) + β.",
                    ),
                },
                "b_folded",
                case,
            )
        return (
            "W' and b' agree with bnlib for a square and a rectangular weight, with ε inside the "
            "square root and the bias carried through."
        )

    return _run("fold_batchnorm", cases)
