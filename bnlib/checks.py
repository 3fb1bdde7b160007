r"""Feedback for the exercises: run a student's function, and name the mistake when it is a known one.

One check per exercise (``exercises/``), each taking the student's function::

    check_batchnorm_forward(fn)    fn(x, gamma, beta, eps=1e-5) -> y
    check_running_update(fn)       fn(running_mean, running_var, x, momentum=0.1) -> (new_mean, new_var)
    check_batchnorm_backward(fn)   fn(dy, x, gamma, beta, eps=1e-5) -> (dx, dgamma, dbeta)
    check_fold_batchnorm(fn)       fn(W, b, gamma, beta, mean, var, eps=1e-5) -> (W_folded, b_folded)
    check_layernorm_forward(fn)    fn(x, gamma, beta, eps=1e-5) -> y               (x: (N, D))
    check_layernorm_backward(fn)   fn(dy, x, gamma, beta, eps=1e-5) -> (dx, dgamma, dbeta)

BN inputs are ``(N, C)`` or ``(N, C, H, W)``; LN inputs ``(N, D)``; the linear layer of the folding
exercise is ``y = x @ W.T + b``. Each check runs ``fn`` on a few fixed inputs chosen so that the
classic mistakes give visibly different answers (a channel or an example with a tiny variance makes
ε's place matter; ``N != C`` and ``W != C`` make a wrong axis fail loudly), compares with bnlib, and
returns a :class:`CheckResult`.

**The graded contract.** A check passes only what the graded tests of its exercise accept: the
function can be called as the graded cells call it (positional arguments, ``eps=`` / ``momentum=``
by keyword, the default), it returns numpy arrays of the right shape in float64 (a ``(y, cache)``
tuple, a list, a torch tensor, None are refused, each with one sentence), it leaves the arrays it
is given unchanged, and its values agree with bnlib to ``RTOL = 1e-10`` (relative) and
``ATOL = 1e-12``: the graded tests' own tolerance, so an answer that passes here passes there (a
float64 answer computed in another order, or with a one-pass variance, is within 1e-12 here).

When an answer is wrong the check compares it with each known mistake, computed here on purpose,
and names it, with where it shows (the channel, row or example furthest off) and the line of the
derivation that goes wrong. An answer right only to float32 precision is told so, with where the
precision went (an input rounded, the result rounded at the end, or the computation in float32).

A check never raises: a crash, a wrong type or shape, NaN, nbgrader's ``NotImplementedError`` stub,
or an error inside the comparison itself become messages (only ``KeyboardInterrupt`` and
``SystemExit`` pass through).

Pure numpy: ``import bnlib.checks`` does not import torch.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .fold import fold_batchnorm
from .functional import batch_statistics, batchnorm_backward, batchnorm_forward, layernorm_backward, layernorm_forward
from .running_stats import update_running_stats

RTOL, ATOL = 1e-10, 1e-12  # an answer agrees with bnlib: |answer - correct| <= ATOL + RTOL·|correct|
F32_RTOL, F32_ATOL = 1e-4, 1e-6  # ... to float32 precision (float32 resolves 1.2e-7 relative)
FLOAT32_RESOLUTION = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        exercise: the function checked, e.g. ``"batchnorm_forward"``.
        passed: True when every case agreed with bnlib and the graded contract holds.
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

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` with the message unless the check passed (the graded cells' test)."""
        if not self.passed:
            raise AssertionError(self.message)


class _Wrong(Exception):
    """Raised inside a check to stop at the first wrong case with a message."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.message, self.mistake = message, mistake


def _text(value, limit: int = 160) -> str:
    """``str(value)``, shortened; never raises (a student's exception may have a broken ``__str__``)."""
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 -- anything a student's object does in __str__
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__name__}" if kind.__module__ not in ("builtins", "numpy") else kind.__name__


# ---------------------------------------------------------------- inputs the checks use
def _channel_data(shape, rng) -> np.ndarray:
    """Data whose channels have different offsets and spreads; channel 2 has a tiny variance (1e-4)."""
    x = rng.standard_normal(shape)
    c = shape[1]
    means, stds = np.array([5.0, -2.0, 0.3])[:c], np.array([2.0, 0.5, 0.01])[:c]
    return x * _per_channel(stds, len(shape)) + _per_channel(means, len(shape))


SHAPES = [(6, 3), (4, 3, 2, 5)]  # N != C and W != C, so a statistic or γ on the wrong axis fails loudly
GAMMA, BETA = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.3, 1.0])
EPS = 1e-3  # large against channel 2's variance 1e-4: ε's place matters


def _per_channel(v, ndim):
    return np.reshape(v, (1, -1) + (1,) * (ndim - 2))


def _axes(ndim):
    return (0,) + tuple(range(2, ndim))


def _describe(shape):
    return "(N, C)" if len(shape) == 2 else "(N, C, H, W)"


# ---------------------------------------------------------------- the graded contract
@dataclass(frozen=True)
class _Contract:
    """How the graded cells call the student's function.

    ``signature`` is the exercise's ``def`` line; ``calls`` the ways the graded and "See it" cells
    call it, as (number of positional arguments, keyword names); ``keywords`` the arguments the check
    itself passes by keyword; ``defaults`` the defaults the graded cells rely on.
    """

    signature: str
    calls: tuple
    keywords: tuple
    defaults: dict


def _check_signature(fn, contract: _Contract) -> None:
    """Raise a :class:`_Wrong` if ``fn`` cannot be called the way the graded cells call it."""
    if not callable(fn):
        raise _Wrong(f"expected your function, got {_type_name(fn)}: pass the function itself.", "not_callable")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C function: nothing to inspect, the calls will tell
        return
    for positional, keywords in contract.calls:
        try:
            signature.bind(*range(positional), **dict.fromkeys(keywords))
        except TypeError as error:
            names = [p for p in signature.parameters][:positional]
            shown = ", ".join(names + [f"{k}=..." for k in keywords])
            raise _Wrong(
                f"the graded cells call your function with {positional} positional arguments"
                + (f" and {', '.join(keywords)} by name" if keywords else "")
                + f" ({shown}), and it cannot be called that way: {_text(error)}. "
                f"Keep the exercise's signature: `def {contract.signature}`.",
                "signature",
            ) from None
    for name, default in contract.defaults.items():
        parameter = signature.parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            if not (isinstance(parameter.default, (int, float)) and parameter.default == default):
                raise _Wrong(
                    f"`{name}` defaults to {_text(parameter.default)}; the graded cells rely on the "
                    f"exercise's default, `{name}={default}`: keep `def {contract.signature}`.",
                    "signature",
                )


@dataclass
class _Called:
    value: object
    changed: list


def _call(fn: Callable, contract: _Contract, inputs: dict) -> _Called:
    """Call ``fn`` on copies of ``inputs`` (a dict in argument order) as the graded cells do.

    Returns what it returned and the names of the arrays it changed in place; what it raises becomes
    a :class:`_Wrong`.
    """
    copies = {k: np.array(v, copy=True) if isinstance(v, np.ndarray) else v for k, v in inputs.items()}
    positional = [v for k, v in copies.items() if k not in contract.keywords]
    keywords = {k: v for k, v in copies.items() if k in contract.keywords}
    try:
        with np.errstate(all="ignore"):
            value = fn(*positional, **keywords)
    except NotImplementedError:
        raise _Wrong(
            "not implemented yet: replace `raise NotImplementedError()` with your code.", "not_implemented"
        ) from None
    except Exception as error:  # noqa: BLE001 -- the student's bug, reported
        hint = ""
        if "broadcast" in _text(error, 10_000):
            hint = " " + _BROADCAST_HINTS[contract.signature.split("(")[0]]
        raise _Wrong(f"your function raised {type(error).__name__}: {_text(error)}.{hint}", "raised") from None
    changed = [
        k
        for k, v in inputs.items()
        if isinstance(v, np.ndarray)
        and not (copies[k].shape == v.shape and np.array_equal(copies[k], v, equal_nan=copies[k].dtype.kind == "f"))
    ]
    return _Called(value, changed)


_BN_BROADCAST = (
    "A broadcasting error usually means a statistic or γ/β has the wrong shape: for (N, C) input a "
    "per-channel vector has shape (C,); for (N, C, H, W) input it must be reshaped to (1, C, 1, 1) "
    "before it meets x."
)
_LN_BROADCAST = (
    "A broadcasting error usually means a per-example statistic lost its axis: `x.mean(axis=1)` has "
    "shape (N,) and must be (N, 1) to meet x (`keepdims=True`); γ and β have shape (D,) and broadcast "
    "along the rows as they are."
)
_BROADCAST_HINTS = {
    "batchnorm_forward": _BN_BROADCAST,
    "running_update": _BN_BROADCAST,
    "batchnorm_backward": _BN_BROADCAST,
    "fold": "A broadcasting error usually means s is applied on the wrong axis: s has shape (out,), "
    "and row c of W (shape (out, in)) is multiplied by s_c: `W * s[:, None]`.",
    "layernorm_forward": _LN_BROADCAST,
    "layernorm_backward": _LN_BROADCAST,
}


def _unchanged(called: _Called) -> None:
    """Raise a :class:`_Wrong` if the student's function changed an array it was given."""
    if called.changed:
        name = called.changed[0]
        raise _Wrong(
            f"your function changed its argument `{name}` in place (an augmented assignment such as "
            f"`{name} *= ...` or `{name} -= ...`, a slice assignment `{name}[...] = ...`, or `out=`). "
            "The exercise asks you to leave the arrays you are given unchanged: the caller still "
            f"holds them and the graded cells reuse them. Compute a new array: `new = {name} * ...` "
            "makes one.",
            "in_place",
        )


def _single(value, what: str):
    """The graded cells use the returned value as one array: refuse a tuple, such as CS231n's (y, cache)."""
    if isinstance(value, tuple):
        raise _Wrong(
            f"return {what} only, not ({what}, cache): the graded cells use what your function returns "
            f"as the array {what} (`{what}.shape`). CS231n's assignment returns a cache for its "
            f"backward pass; here the backward pass is its own exercise. Got a tuple of length {len(value)}.",
            "returned_tuple",
        )
    return value


def _unpack(value, n: int, names: str):
    if not isinstance(value, (tuple, list)) or len(value) != n:
        raise _Wrong(
            f"return a tuple {names}; got {_type_name(value)}"
            + (f" of length {len(value)}" if isinstance(value, (tuple, list)) else "")
            + ".",
            "wrong_return",
        )
    return value


def _as_array(value, what: str, shape) -> np.ndarray:
    """``value`` if it is a floating-point numpy array of ``shape`` with finite values, else a :class:`_Wrong`."""
    if not isinstance(value, np.ndarray):
        kind = _type_name(value)
        if value is None:
            advice = "did you forget `return`?"
        elif kind.startswith("torch."):
            advice = "return a numpy array (`.detach().numpy()`, or compute with numpy from the start)."
        elif isinstance(value, (list, tuple)):
            advice = f"return a numpy array, e.g. `np.array(...)`, shaped {tuple(shape)}."
        else:
            advice = f"return a numpy array of shape {tuple(shape)}."
        raise _Wrong(f"{what} should be a numpy array of shape {tuple(shape)}, got {kind}: {advice}", "wrong_type")
    if value.dtype.kind != "f":
        raise _Wrong(
            f"{what} has dtype {value.dtype}; return floating-point numbers (float64, like the inputs).",
            "wrong_type",
        )
    if value.shape != tuple(shape):
        raise _Wrong(f"{what} has shape {value.shape}, expected {tuple(shape)}.", "wrong_shape")
    finite = np.isfinite(value)
    if not np.all(finite):
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise _Wrong(
            f"{what} contains NaN or inf ({int((~finite).sum())} of {value.size} values, the first at "
            f"index {first}): look for a division by zero or the square root of a negative number.",
            "not_finite",
        )
    return value


def _close(a, b, rtol=RTOL, atol=ATOL) -> bool:
    return np.shape(a) == np.shape(b) and bool(np.allclose(a, b, rtol=rtol, atol=atol))


# ---------------------------------------------------------------- where an answer is wrong
def _where(error: np.ndarray, layout: str) -> str:
    """Name the channel, row or example where ``error`` (an array of absolute errors) is largest.

    ``layout``: ``"channel"`` (axis 1 of BN data, or the index of a ``(C,)`` vector), ``"row"`` (a
    folded weight ``(out, in)``: the row is the output feature; or a ``(out,)`` bias), ``"example"``
    (LN data ``(N, D)``: the row is the example; or a ``(D,)`` vector of features).
    """
    index = np.unravel_index(int(np.argmax(error)), error.shape)
    peak = f"off by up to {float(error.max()):.2g} there"
    if layout == "channel":
        return f"It shows most in channel {int(index[1] if error.ndim > 1 else index[0])} ({peak})."
    if layout == "row":
        if error.ndim > 1:
            return f"It shows most in row {int(index[0])} of W, the weights of output feature {int(index[0])} ({peak})."
        return f"It shows most in output feature {int(index[0])} ({peak})."
    if error.ndim > 1:
        return f"It shows most in example {int(index[0])} (row {int(index[0])}), feature {int(index[1])} ({peak})."
    return f"It shows most in feature {int(index[0])} ({peak})."


def _float32_message(what, case, answer, correct, layout, reference, inputs) -> str:
    """Tell a float32 answer that it is right to float32 precision, and where the precision went."""
    error = np.abs(answer.astype(np.float64) - correct)
    relative = float(error.max() / max(float(np.abs(correct).max()), np.finfo(np.float64).tiny))
    source = ""
    if answer.dtype == np.float64:
        for name, value in inputs.items():
            if isinstance(value, np.ndarray) and reference is not None:
                rounded = dict(inputs, **{name: value.astype(np.float32).astype(np.float64)})
                if _close(answer, reference(rounded), rtol=RTOL):
                    source = (
                        f"The returned array is float64, but `{name}` was rounded to float32 on the way in "
                        f"(`{name}.astype(np.float32)`, `np.float32(...)`, or a float32 torch tensor): "
                        "that rounding is all of the difference."
                    )
                    break
        source = source or (
            "The returned array is float64, so a step in the middle ran in float32 (look for "
            "`np.float32`, `astype(np.float32)`, `dtype=np.float32`, or a torch tensor in its default float32)."
        )
    elif np.array_equal(answer, correct.astype(answer.dtype)):
        source = (
            f"Your computation is exact: only the result is rounded, to {answer.dtype}, at the end "
            "(`.astype(...)`, or an output array made with a float32 dtype)."
        )
    else:
        source = (
            f"The returned array is {answer.dtype}, and the computation ran in {answer.dtype}: an input "
            "was converted, or an array was made with that dtype, and every later step kept its precision."
        )
    return (
        f"{what} is right to float32 precision only, for {case} input: it differs from the float64 answer "
        f"by up to {relative:.1g} relative (float32 resolves {FLOAT32_RESOLUTION:.1g}). {_where(error, layout)} "
        f"{source} Compute in float64, the dtype of the inputs: the graded tests compare to 1e-10."
    )


def _diagnose(answer, correct, mistakes, what: str, case: str, layout: str, reference=None, inputs=None):
    """Raise a :class:`_Wrong` naming the first known mistake ``answer`` matches, else a generic one.

    ``mistakes`` maps a key to (the output that mistake gives, or None; the message naming it).
    """
    exact = answer.dtype == np.float64
    value = answer.astype(np.float64)
    with np.errstate(all="ignore"):
        if exact and _close(value, correct):
            return
        if _close(value, correct, F32_RTOL, F32_ATOL):
            raise _Wrong(_float32_message(what, case, answer, correct, layout, reference, inputs or {}), "float32")
        tolerance = (RTOL, ATOL) if exact else (F32_RTOL, F32_ATOL)
        error = np.abs(value - correct)
        for key, (candidate, message) in mistakes.items():
            if candidate is not None and _close(value, candidate, *tolerance):
                raise _Wrong(f"{what} is wrong for {case} input. {message} {_where(error, layout)}", key)
        raise _Wrong(
            f"{what} is wrong for {case} input: it differs from the correct value by up to "
            f"{float(error.max()):.2g}. {_where(error, layout)} Check each step against the equations above.",
            "wrong_values",
        )


def _run(exercise: str, cases: Callable[[], str]) -> CheckResult:
    try:
        summary = cases()
    except _Wrong as wrong:
        return CheckResult(exercise, False, wrong.message, wrong.mistake)
    except Exception as error:  # noqa: BLE001 -- the promise: a check never raises
        return CheckResult(
            exercise,
            False,
            f"the check could not use what your function returned ({type(error).__name__}: {_text(error)}). "
            "Return numpy arrays of the shapes the exercise asks for.",
            "unusable",
        )
    return CheckResult(exercise, True, summary)


def _eps_ignored(reference, inputs) -> tuple:
    """The answer of a function that uses the default ε = 1e-5 instead of the ``eps`` it is given."""
    return (
        reference(dict(inputs, eps=1e-5)),
        f"Your function ignores the `eps` it is given: the check passes eps={inputs['eps']}, and your answer "
        "is the one for 1e-5. Use the argument, not a number of your own.",
    )


# ---------------------------------------------------------------- the derivation's lines, as quoted
_LINE_MU = "μ_B = (1/m) Σ x_i"
_LINE_VAR = "σ²_B = (1/m) Σ (x_i − μ_B)²"
_LINE_XHAT = "x̂ = (x − μ_B) / √(σ²_B + ε)"
_LINE_Y = "y = γ·x̂ + β"


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
            f"Your statistics are taken over the channels of each example ({_LINE_MU} sums the wrong "
            "axis). BN takes one mean and one variance per channel, over the batch: `x.mean(axis=0)` "
            "for (N, C) input.",
        ),
        "not_over_hw": (
            g * norm(*no_hw) + b if nd > 2 else None,
            f"Your statistics are per channel *and* per pixel position ({_LINE_MU} with m = N): for "
            "(N, C, H, W) input a channel's statistics pool the batch and all positions, m = N·H·W, "
            "`x.mean(axis=(0, 2, 3), keepdims=True)`.",
        ),
        "shared_scalar": (
            g * norm(x.mean(), x.var()) + b,
            "You use one mean and one variance for the whole input. BN keeps one of each "
            "per channel, so that every channel is normalised on its own.",
        ),
        "unbiased_variance": (
            g * norm(mu, x.var(axis=axes, ddof=1, keepdims=True)) + b,
            f"You normalise with the unbiased variance (dividing by m - 1). Training-mode BN "
            f"uses the biased batch variance, {_LINE_VAR}; the unbiased one is only for "
            "the running estimate.",
        ),
        "eps_outside_sqrt": (
            g * norm(mu, var, eps_inside=False) + b,
            f"ε is added outside the square root, (x - μ) / (√σ² + ε). It belongs inside: {_LINE_XHAT}. "
            "The two differ when a channel's variance is small, as in this check's third channel.",
        ),
        "no_sqrt": (
            g * (x - mu) / (var + eps) + b,
            f"You divide by the variance plus ε, not by its square root: {_LINE_XHAT}.",
        ),
        "gamma_beta_not_applied": (
            norm(mu, var),
            f"Your output is x̂ itself: γ and β are not applied. The output is {_LINE_Y}.",
        ),
        "gamma_beta_swapped": (
            b * norm(mu, var) + g,
            f"γ and β are swapped: γ scales x̂ and β shifts it, {_LINE_Y}.",
        ),
    }
    return correct, mistakes


_FORWARD = _Contract("batchnorm_forward(x, gamma, beta, eps=1e-5)", ((4, ()), (3, ("eps",))), ("eps",), {})


def check_batchnorm_forward(fn) -> CheckResult:
    r"""Check ``fn(x, gamma, beta, eps=1e-5) -> y``, training-mode BN forward.

    .. math:: \mu_B = \tfrac1m \sum_i x_i,\ \sigma^2_B = \tfrac1m \sum_i (x_i - \mu_B)^2,\
              y = \gamma \frac{x - \mu_B}{\sqrt{\sigma^2_B + \epsilon}} + \beta

    per channel, over the batch (and H, W): ``x`` ``(N, C)`` or ``(N, C, H, W)``, ``gamma``, ``beta``
    ``(C,)``, ``y`` shaped like ``x``. Runs ``(6, 3)`` and ``(4, 3, 2, 5)`` inputs. ``y`` must be
    returned alone, as a float64 array; a returned ``(y, cache)`` is refused.
    """

    def reference(i):
        return batchnorm_forward(i["x"], i["gamma"], i["beta"], i["eps"])[0]

    def cases():
        _check_signature(fn, _FORWARD)
        rng = np.random.default_rng(0)
        for shape in SHAPES:
            x = _channel_data(shape, rng)
            inputs = {"x": x, "gamma": GAMMA, "beta": BETA, "eps": EPS}
            called = _call(fn, _FORWARD, inputs)
            answer = _as_array(_single(called.value, "y"), "the output y", x.shape)
            _, mistakes = _forward_variants(x, GAMMA, BETA, EPS)
            mistakes["eps_ignored"] = _eps_ignored(reference, inputs)
            _diagnose(
                answer, reference(inputs), mistakes, "the output y", _describe(shape), "channel", reference, inputs
            )
            _unchanged(called)
        return (
            "(N, C) and (N, C, H, W) inputs agree with bnlib, including a channel with a tiny "
            "variance (ε inside the square root) and γ, β applied per channel."
        )

    return _run("batchnorm_forward", cases)


# ---------------------------------------------------------------- exercise 2: running statistics
RUNNING_MEAN, RUNNING_VAR = np.array([0.5, -1.0, 2.0]), np.array([1.0, 2.0, 0.5])

_RUNNING = _Contract(
    "running_update(running_mean, running_var, x, momentum=0.1)",
    ((3, ("momentum",)), (4, ())),
    ("momentum",),
    {},
)


def _probe_shapes(fn, x, momentum) -> list:
    """Shapes ``fn`` returns when the running estimates are the scalar 0: the shapes of its statistics."""
    try:
        with np.errstate(all="ignore"):
            result = fn(0.0, 0.0, np.array(x, copy=True), momentum=momentum)
        return [np.shape(v) for v in result] if isinstance(result, (tuple, list)) else []
    except Exception:  # noqa: BLE001 -- nothing more to learn from this function
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
    r"""Check ``fn(running_mean, running_var, x, momentum=0.1) -> (new_mean, new_var)``, PyTorch's update.

    .. math:: \hat\mu \leftarrow (1 - \text{momentum})\,\hat\mu + \text{momentum}\cdot\mu_B,\qquad
              \hat\sigma^2 \leftarrow (1 - \text{momentum})\,\hat\sigma^2 + \text{momentum}\cdot\tfrac{m}{m-1}\sigma^2_B

    with ``momentum`` the weight of the new batch and the *unbiased* batch variance (``m`` values per
    channel: N, or N·H·W); ``running_mean``, ``running_var`` and the results ``(C,)``. Runs ``(6, 3)``
    and ``(4, 3, 2, 5)`` inputs with momentum 0.1 and 0.25. The arguments must stay unchanged: an
    update in place (``running_mean *= ...``) is refused.
    """

    def cases():
        _check_signature(fn, _RUNNING)
        rng = np.random.default_rng(1)
        for shape, momentum in zip(SHAPES, (0.1, 0.25)):
            x = _channel_data(shape, rng)
            m = x.size // x.shape[1]
            mu, var = batch_statistics(x)
            new_mean, new_var, _ = update_running_stats(RUNNING_MEAN, RUNNING_VAR, mu, var, m, momentum)
            inputs = {"running_mean": RUNNING_MEAN, "running_var": RUNNING_VAR, "x": x, "momentum": momentum}
            try:
                called = _call(fn, _RUNNING, inputs)
            except _Wrong as wrong:
                if "broadcast" in wrong.message:  # a statistic of the wrong shape met the (C,) estimates:
                    _statistic_shape(_probe_shapes(fn, x, momentum), x.shape)  # find out which, from a probe
                raise
            answer = _unpack(called.value, 2, "(new_mean, new_var)")
            _statistic_shape([np.shape(v) for v in answer], x.shape)
            got_mean = _as_array(answer[0], "new_mean", (shape[1],))
            got_var = _as_array(answer[1], "new_var", (shape[1],))
            r, k = (1 - momentum), momentum
            unbiased = var * m / (m - 1)

            def reference(i, which):
                mu_i, var_i = batch_statistics(i["x"])
                return update_running_stats(i["running_mean"], i["running_var"], mu_i, var_i, m, momentum)[which]

            blend = "(1 - momentum)·old + momentum·batch"
            _diagnose(
                got_mean,
                new_mean,
                {
                    "momentum_reversed": (
                        k * RUNNING_MEAN + r * mu,
                        "The momentum weights are reversed: in PyTorch `momentum` is the weight "
                        f"of the *new* batch, new = {blend}.",
                    ),
                    "no_update": (RUNNING_MEAN, "The running mean did not change: return the updated estimate."),
                    "batch_only": (mu, f"You return the batch mean itself: blend it with the old estimate, {blend}."),
                    "shared_scalar": (
                        np.full(shape[1], x.mean()) * k + r * RUNNING_MEAN,
                        "Every channel got the same batch mean: one statistic is shared by all "
                        "channels. Take the mean per channel.",
                    ),
                },
                "new_mean",
                _describe(shape),
                "channel",
                lambda i: reference(i, 0),
                inputs,
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
                        f"The momentum weights of the variance are reversed: new = {blend}.",
                    ),
                    "no_update": (RUNNING_VAR, "The running variance did not change: return the updated estimate."),
                    "batch_only": (unbiased, "You return the batch variance itself: blend it with the old estimate."),
                },
                "new_var",
                _describe(shape),
                "channel",
                lambda i: reference(i, 1),
                inputs,
            )
            _unchanged(called)
        return (
            "(N, C) and (N, C, H, W) inputs agree with PyTorch's convention: momentum weighs the new "
            "batch, and the running variance is the unbiased one, m / (m - 1) · σ²_B; the estimates "
            "you were given are left unchanged."
        )

    return _run("running_update", cases)


# ---------------------------------------------------------------- exercises 3 and 5: backward
_LINE_DX = "∂L/∂x_i = ∂L/∂x̂_i/√(σ²_B + ε) + ∂L/∂σ²_B·2(x_i − μ_B)/m + ∂L/∂μ_B/m"


def _normalized(x, axes, eps, ddof=0):
    mu = x.mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(x.var(axis=axes, ddof=ddof, keepdims=True) + eps)
    return (x - mu) * inv_std, inv_std


def _compact_dx(g, x_hat, inv_std, axes, m=None):
    """dx = (g − mean(g) − x̂·mean(g·x̂)) / √(σ² + ε), the means over ``axes`` (sums divided by ``m``)."""
    m = m or int(np.prod([g.shape[a] for a in axes]))
    return inv_std * (g - g.sum(axis=axes, keepdims=True) / m - x_hat * (g * x_hat).sum(axis=axes, keepdims=True) / m)


def _backward_variants(dy, x, gamma, eps, stat_axes, param_axes, gamma_shape):
    """Correct (dx, dgamma, dbeta) and the classic mistakes, each as the gradients it produces.

    ``stat_axes``: the axes μ and σ² are taken over (BN: batch and H, W; LN: the features);
    ``param_axes``: the axes dγ and dβ sum over; ``gamma_shape``: how γ meets ``x``.
    """
    m = int(np.prod([x.shape[a] for a in stat_axes]))
    x_hat, inv_std = _normalized(x, stat_axes, eps)
    g = dy * np.reshape(gamma, gamma_shape)
    dgamma, dbeta = (dy * x_hat).sum(axis=param_axes), dy.sum(axis=param_axes)
    correct = _compact_dx(g, x_hat, inv_std, stat_axes)
    xu, iu = _normalized(x, stat_axes, eps, ddof=1)
    dx_mistakes = {
        "missing_var_path": (
            inv_std * (g - g.mean(axis=stat_axes, keepdims=True)),
            f"dx misses the terms through σ²_B: σ² depends on every x, so the line {_LINE_DX} needs its "
            "middle term ∂L/∂σ²·2(x − μ)/m.",
        ),
        "missing_mean_path": (
            inv_std * (g - x_hat * (g * x_hat).mean(axis=stat_axes, keepdims=True)),
            f"dx misses the terms through μ_B: μ depends on every x, so the line {_LINE_DX} needs its "
            "last term ∂L/∂μ/m.",
        ),
        "no_statistics_path": (
            inv_std * g,
            "dx treats μ_B and σ²_B as constants (dx = γ·dy/√(σ² + ε), the first term of "
            f"{_LINE_DX} only). In training mode they depend on x: add the paths through μ and σ².",
        ),
        "gamma_forgotten": (
            _compact_dx(dy, x_hat, inv_std, stat_axes),
            "dx forgets γ: the line ∂L/∂x̂_i = γ·dy_i is missing, so dy reaches x̂ unscaled.",
        ),
        "unbiased_variance": (
            iu
            * (
                g
                - g.mean(axis=stat_axes, keepdims=True)
                - xu * (g * xu).mean(axis=stat_axes, keepdims=True) * m / (m - 1)
            ),
            "The forward pass behind your dx uses the unbiased variance (m − 1 in "
            f"{_LINE_VAR}); training-mode normalisation uses the biased one, dividing by m.",
        ),
    }
    dgamma_mistakes = {
        "dgamma_dbeta_swapped": (dbeta, "dγ and dβ are swapped: dβ = Σ dy and dγ = Σ dy·x̂."),
        "dgamma_uses_x": ((dy * x).sum(axis=param_axes), "dγ uses x where it needs x̂: y = γ·x̂ + β, so dγ = Σ dy·x̂."),
    }
    dbeta_mistakes = {"dgamma_dbeta_swapped": (dgamma, "dγ and dβ are swapped: dβ = Σ dy and dγ = Σ dy·x̂.")}
    return (correct, dgamma, dbeta), (dx_mistakes, dgamma_mistakes, dbeta_mistakes)


_BACKWARD = _Contract(
    "batchnorm_backward(dy, x, gamma, beta, eps=1e-5)", ((4, ()), (4, ("eps",))), ("eps",), {"eps": 1e-5}
)


def _check_gradients(fn, contract, inputs, reference, known, shapes, case, layout):
    """Call a backward ``fn`` and diagnose its (dx, dgamma, dbeta) against ``reference`` and ``known`` mistakes."""
    called = _call(fn, contract, inputs)
    answer = _unpack(called.value, 3, "(dx, dgamma, dbeta)")
    return (
        called,
        answer,
        lambda k, value: _diagnose(
            _as_array(value, ("dx", "dgamma", "dbeta")[k], shapes[k]),
            reference(inputs)[k],
            known[k],
            ("dx", "dgamma", "dbeta")[k],
            case,
            layout,
            lambda i: reference(i)[k],
            inputs,
        ),
    )


def check_batchnorm_backward(fn) -> CheckResult:
    r"""Check ``fn(dy, x, gamma, beta, eps=1e-5) -> (dx, dgamma, dbeta)``, the training-mode BN backward.

    .. math:: \frac{\partial L}{\partial x} = \frac{1}{\sqrt{\sigma^2_B+\epsilon}}\Big(\hat g
              - \overline{\hat g} - \hat x\,\overline{\hat g\,\hat x}\Big),\quad \hat g = \gamma\,dy,\quad
              d\gamma = \textstyle\sum dy\,\hat x,\quad d\beta = \sum dy

    with bars the per-channel means over the batch (and H, W): ``dx`` shaped like ``x``, ``dgamma``,
    ``dbeta`` ``(C,)``. Runs ``(6, 3)`` and ``(4, 3, 2, 5)``.
    """

    def reference(i):
        _, cache = batchnorm_forward(i["x"], i["gamma"], i["beta"], i["eps"])
        return batchnorm_backward(i["dy"], cache)

    def cases():
        _check_signature(fn, _BACKWARD)
        rng = np.random.default_rng(2)
        for shape in SHAPES:
            x = _channel_data(shape, rng)
            dy = rng.standard_normal(shape)
            inputs = {"dy": dy, "x": x, "gamma": GAMMA, "beta": BETA, "eps": EPS}
            axes = _axes(len(shape))
            _, known = _backward_variants(dy, x, GAMMA, EPS, axes, axes, (1, -1) + (1,) * (len(shape) - 2))
            if len(shape) > 2:
                n = shape[0]
                x_hat, inv_std = _normalized(x, axes, EPS)
                known[0]["m_is_n"] = (
                    _compact_dx(dy * _per_channel(GAMMA, x.ndim), x_hat, inv_std, axes, m=n),
                    f"The terms through μ_B and σ²_B divide by m = N = {n}, but a channel of (N, C, H, W) "
                    f"input has m = N·H·W = {x.size // shape[1]} values: in {_LINE_DX}, m counts every "
                    "value of the channel (`m = x.size // x.shape[1]`).",
                )
            called, answer, diagnose = _check_gradients(
                fn, _BACKWARD, inputs, reference, known, (shape, (3,), (3,)), _describe(shape), "channel"
            )
            for what, value in zip(("dgamma", "dbeta"), answer[1:]):
                if len(shape) > 2 and np.shape(value) == shape[1:]:
                    raise _Wrong(
                        f"{what} has shape {np.shape(value)}: for (N, C, H, W) input sum over the "
                        "batch and over H and W, axes (0, 2, 3).",
                        "not_over_hw",
                    )
            for k in range(3):
                diagnose(k, answer[k])
            _unchanged(called)
        return (
            "dx, dγ and dβ agree with bnlib for (N, C) and (N, C, H, W) inputs, including the paths "
            "through μ_B and σ²_B."
        )

    return _run("batchnorm_backward", cases)


# ---------------------------------------------------------------- exercise 4: folding
_FOLD = _Contract("fold(W, b, gamma, beta, mean, var, eps=1e-5)", ((6, ("eps",)), (6, ())), ("eps",), {"eps": 1e-5})
_LINE_S = "s = γ / √(var + ε)"
_LINE_B = "b' = s·(b − mean) + β"


def check_fold_batchnorm(fn) -> CheckResult:
    r"""Check ``fn(W, b, gamma, beta, mean, var, eps=1e-5) -> (W_folded, b_folded)``.

    For ``y = x @ W.T + b`` (``W`` of shape ``(out, in)``, the others ``(out,)``) followed by
    eval-mode BN over the ``out`` features with statistics ``mean``, ``var``:

    .. math:: s = \frac{\gamma}{\sqrt{\mathrm{var} + \epsilon}},\quad W' = \mathrm{diag}(s)\,W,\quad
              b' = s\,(b - \mathrm{mean}) + \beta

    Runs a square ``(3, 3)`` and a ``(3, 5)`` weight; feature 2 has a variance of 1e-4, against
    ε = 1e-3. A mistake in the scale is reported in the row of ``W`` (the output feature) it shows in.
    """

    def reference(i):
        return fold_batchnorm(i["W"], i["b"], i["gamma"], i["beta"], i["mean"], i["var"], i["eps"])

    def cases():
        _check_signature(fn, _FOLD)
        rng = np.random.default_rng(3)
        mean, var = np.array([0.5, -1.0, 2.0]), np.array([2.0, 0.5, 1e-4])
        for shape in ((3, 3), (3, 5)):
            W, b = rng.standard_normal(shape), rng.standard_normal(3)
            inputs = {"W": W, "b": b, "gamma": GAMMA, "beta": BETA, "mean": mean, "var": var, "eps": EPS}
            W_ref, b_ref = reference(inputs)
            s = GAMMA / np.sqrt(var + EPS)
            s_no_eps, s_var, s_outside = GAMMA / np.sqrt(var), GAMMA / (var + EPS), GAMMA / (np.sqrt(var) + EPS)
            called = _call(fn, _FOLD, inputs)
            answer = _unpack(called.value, 2, "(W_folded, b_folded)")
            case = f"a {shape[0]}x{shape[1]} weight"
            got_W = _as_array(answer[0], "W_folded", shape)
            got_b = _as_array(answer[1], "b_folded", (3,))
            outside = f"ε is added outside the square root, s = γ / (√var + ε); it belongs inside: {_LINE_S}."
            _diagnose(
                got_W,
                W_ref,
                {
                    "scale_on_inputs": (
                        W * s[None, :] if shape[0] == shape[1] else None,
                        "W is scaled along its columns (inputs). BN scales each *output* "
                        "feature, so row c of W is multiplied by s_c: W' = diag(s)·W, `W * s[:, None]`.",
                    ),
                    "std_without_eps": (W * s_no_eps[:, None], f"The scale uses √var without ε: {_LINE_S}."),
                    "eps_outside_sqrt": (W * s_outside[:, None], outside),
                    "var_not_std": (
                        W * s_var[:, None],
                        f"The scale divides by the variance, not the standard deviation: {_LINE_S}.",
                    ),
                },
                "W_folded",
                case,
                "row",
                lambda i: reference(i)[0],
                inputs,
            )
            _diagnose(
                got_b,
                b_ref,
                {
                    "forgot_bias": (
                        BETA - s * mean,
                        f"b_folded forgets the layer's own bias b: the BN input is x @ W.T + b, so {_LINE_B}.",
                    ),
                    "mean_sign": (
                        s * (b + mean) + BETA,
                        "b_folded adds the mean: BN subtracts it, BN(z) = s·(z − mean) + β, and z = "
                        f"x @ W.T + b gives {_LINE_B} (a sign error in the line that collects the constants).",
                    ),
                    "std_without_eps": (s_no_eps * (b - mean) + BETA, f"The scale uses √var without ε: {_LINE_S}."),
                    "eps_outside_sqrt": (s_outside * (b - mean) + BETA, outside),
                    "forgot_beta": (s * (b - mean), f"b_folded forgets β: {_LINE_B}."),
                    "bias_not_scaled": (
                        b + BETA - s * mean,
                        "The layer's bias b is not scaled: it passes through BN like the rest of the "
                        f"pre-activation, {_LINE_B}.",
                    ),
                },
                "b_folded",
                case,
                "row",
                lambda i: reference(i)[1],
                inputs,
            )
            _unchanged(called)
        return (
            "W' and b' agree with bnlib for a square and a rectangular weight, with ε inside the "
            "square root and the bias carried through."
        )

    return _run("fold_batchnorm", cases)


# ---------------------------------------------------------------- exercise 5: layer normalization
def _example_data(shape, rng) -> np.ndarray:
    """(N, D) data whose examples (rows) have different offsets and spreads; row 2 has a tiny variance (1e-4)."""
    n = shape[0]
    means = np.resize([5.0, -2.0, 0.3, 1.0], n)[:, None]
    stds = np.resize([2.0, 0.5, 0.01, 1.0], n)[:, None]
    return rng.standard_normal(shape) * stds + means


LN_SHAPES = [(4, 4), (6, 4)]  # square first (a per-example γ or a lost keepdims computes), then N != D
LN_GAMMA, LN_BETA = np.array([1.5, 0.5, 2.0, -1.0]), np.array([0.1, -0.3, 1.0, 0.4])

_LN_FORWARD = _Contract(
    "layernorm_forward(x, gamma, beta, eps=1e-5)", ((4, ()), (3, ("eps",)), (3, ())), ("eps",), {"eps": 1e-5}
)
_LN_BACKWARD = _Contract(
    "layernorm_backward(dy, x, gamma, beta, eps=1e-5)", ((4, ()), (4, ("eps",))), ("eps",), {"eps": 1e-5}
)
_LN_LINE_MU = "μ_i = (1/D) Σ_j x_ij"


def _ln_describe(shape) -> str:
    return f"({shape[0]}, {shape[1]}) " + ("square" if shape[0] == shape[1] else "rectangular")


def _layernorm_variants(x, gamma, beta, eps):
    """The correct LN forward and its classic mistakes, each as the output it produces."""
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    x_hat = (x - mu) / np.sqrt(var + eps)
    correct = gamma * x_hat + beta
    square = x.shape[0] == x.shape[1]
    bn_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    mistakes = {
        "batch_axis": (
            gamma * bn_hat + beta,
            f"Your statistics are taken over the batch (axis 0), one per feature: that is BN. LN "
            f"normalises each example over its own features, {_LN_LINE_MU}: `x.mean(axis=1, keepdims=True)`.",
        ),
        "params_per_example": (
            gamma[:, None] * x_hat + beta[:, None] if square else None,
            "γ and β are applied per example (one value per row). They are per feature, shape (D,), "
            "and broadcast along the rows as they are: y_ij = γ_j·x̂_ij + β_j, `gamma * x_hat + beta`.",
        ),
        "keepdims_lost": (
            gamma * (x - mu.T) / np.sqrt(var.T + eps) + beta if square else None,
            "Your per-example statistics (shape (N,)) met x along the feature axis: `x - x.mean(axis=1)` "
            "subtracts example j's mean from feature j. Keep the axis, `keepdims=True` (shape (N, 1)).",
        ),
        "shared_scalar": (
            gamma * (x - x.mean()) / np.sqrt(x.var() + eps) + beta,
            "You use one mean and one variance for the whole batch. LN keeps one of each per example.",
        ),
        "unbiased_variance": (
            gamma * (x - mu) / np.sqrt(x.var(axis=1, ddof=1, keepdims=True) + eps) + beta,
            "You normalise with the unbiased variance (dividing by D − 1). LN uses the biased one, "
            "σ²_i = (1/D) Σ_j (x_ij − μ_i)².",
        ),
        "eps_outside_sqrt": (
            gamma * (x - mu) / (np.sqrt(var) + eps) + beta,
            "ε is added outside the square root, (x − μ) / (√σ² + ε). It belongs inside: "
            "x̂ = (x − μ) / √(σ² + ε). The two differ when an example's variance is small, as in row 2.",
        ),
        "gamma_beta_not_applied": (x_hat, f"Your output is x̂ itself: γ and β are not applied, {_LINE_Y}."),
        "gamma_beta_swapped": (beta * x_hat + gamma, f"γ and β are swapped: {_LINE_Y}."),
    }
    return correct, mistakes


def check_layernorm_forward(fn) -> CheckResult:
    r"""Check ``fn(x, gamma, beta, eps=1e-5) -> y``, the LayerNorm forward pass.

    .. math:: \mu_i = \tfrac1D \sum_j x_{ij},\ \sigma^2_i = \tfrac1D \sum_j (x_{ij} - \mu_i)^2,\
              y_{ij} = \gamma_j \frac{x_{ij} - \mu_i}{\sqrt{\sigma^2_i + \epsilon}} + \beta_j

    ``x`` ``(N, D)``, ``gamma``, ``beta`` ``(D,)``, ``y`` ``(N, D)``: statistics per example (row), γ
    and β per feature. Runs a square ``(4, 4)`` input first (so that statistics over the batch, γ per
    example or a lost ``keepdims`` give numbers to name) and a ``(6, 4)`` one; example 2 has a tiny
    variance. ``y`` must be returned alone, as a float64 array.
    """

    def reference(i):
        return layernorm_forward(i["x"], i["gamma"], i["beta"], i["eps"])[0]

    def cases():
        _check_signature(fn, _LN_FORWARD)
        rng = np.random.default_rng(6)
        for shape in LN_SHAPES:
            x = _example_data(shape, rng)
            inputs = {"x": x, "gamma": LN_GAMMA, "beta": LN_BETA, "eps": EPS}
            called = _call(fn, _LN_FORWARD, inputs)
            answer = _as_array(_single(called.value, "y"), "the output y", shape)
            _, mistakes = _layernorm_variants(x, LN_GAMMA, LN_BETA, EPS)
            mistakes["eps_ignored"] = _eps_ignored(reference, inputs)
            _diagnose(
                answer, reference(inputs), mistakes, "the output y", _ln_describe(shape), "example", reference, inputs
            )
            _unchanged(called)
        return (
            "square and rectangular (N, D) inputs agree with bnlib: statistics per example, over its "
            "features, ε inside the square root (example 2 has a tiny variance), γ and β per feature."
        )

    return _run("layernorm_forward", cases)


def check_layernorm_backward(fn) -> CheckResult:
    r"""Check ``fn(dy, x, gamma, beta, eps=1e-5) -> (dx, dgamma, dbeta)``, the LayerNorm backward pass.

    .. math:: \frac{\partial L}{\partial x_{ij}} = \frac{1}{\sqrt{\sigma^2_i+\epsilon}}\Big(g_{ij}
              - \overline{g}_i - \hat x_{ij}\,\overline{g\,\hat x}_i\Big),\quad g = \gamma\,dy,\quad
              d\gamma_j = \textstyle\sum_i dy_{ij}\,\hat x_{ij},\quad d\beta_j = \sum_i dy_{ij}

    with bars the means over the features of example i (axis 1), while dγ and dβ sum over the batch
    (axis 0): ``dx`` ``(N, D)``, ``dgamma``, ``dbeta`` ``(D,)``. Runs ``(4, 4)`` and ``(6, 4)``.
    """

    def reference(i):
        _, cache = layernorm_forward(i["x"], i["gamma"], i["beta"], i["eps"])
        return layernorm_backward(i["dy"], cache)

    def cases():
        _check_signature(fn, _LN_BACKWARD)
        rng = np.random.default_rng(7)
        for shape in LN_SHAPES:
            x, dy = _example_data(shape, rng), rng.standard_normal(shape)
            inputs = {"dy": dy, "x": x, "gamma": LN_GAMMA, "beta": LN_BETA, "eps": EPS}
            known = list(_backward_variants(dy, x, LN_GAMMA, EPS, (1,), (0,), (1, -1))[1])
            x_hat, inv_std = _normalized(x, (1,), EPS)
            g = dy * LN_GAMMA
            (bn_dx, bn_dgamma, _), _ = _backward_variants(dy, x, LN_GAMMA, EPS, (0,), (0,), (1, -1))
            reused = (
                "reduces over the batch axis, as BN's backward does: in LN, μ and σ² are per example, "
                "so the sums in ∂L/∂μ_i and ∂L/∂σ²_i run over the features of one example (axis 1), "
                "dx = (g − mean_j g − x̂·mean_j(g·x̂)) / √(σ²_i + ε) with m = D. (Only dγ and dβ sum over "
                "the batch, axis 0.)"
            )
            known[0] = {
                "bn_backward_reused": (bn_dx, "dx is BN's backward with the axes unchanged: it " + reused),
                "bn_axes_in_dx": (
                    _compact_dx(g, x_hat, inv_std, (0,)),
                    "x̂ is per example, but your dx " + reused,
                ),
                "m_is_n": (
                    _compact_dx(g, x_hat, inv_std, (1,), m=shape[0]) if shape[0] != shape[1] else None,
                    f"dx divides by N = {shape[0]}, the batch size, where the sums over one example run over "
                    f"its D = {shape[1]} features: in {_LINE_DX}, m = D for LN.",
                ),
                **known[0],
            }
            known[1] = {
                "bn_backward_reused": (bn_dgamma, "dγ uses BN's x̂ (statistics over the batch): " + reused),
                "dgamma_over_features": (
                    (dy * x_hat).sum(axis=1) if shape[0] == shape[1] else None,
                    "dγ sums over the features of each example; γ is per feature, so dγ_j = Σ_i dy_ij·x̂_ij "
                    "sums over the batch, axis 0.",
                ),
                **known[1],
            }
            known[2] = {
                "dbeta_over_features": (
                    dy.sum(axis=1) if shape[0] == shape[1] else None,
                    "dβ sums over the features of each example; β is per feature: dβ_j = Σ_i dy_ij, axis 0.",
                ),
                **known[2],
            }
            called, answer, diagnose = _check_gradients(
                fn, _LN_BACKWARD, inputs, reference, known, (shape, (4,), (4,)), _ln_describe(shape), "example"
            )
            for what, value in zip(("dgamma", "dbeta"), answer[1:]):
                if np.shape(value) in ((shape[0],), (shape[0], 1)) and shape[0] != shape[1]:
                    raise _Wrong(
                        f"{what} has one value per example, shape {np.shape(value)}: γ and β are per "
                        "feature, so their gradients sum over the batch, axis 0, to shape (D,).",
                        f"{what}_over_features",
                    )
            for k in range(3):
                diagnose(k, answer[k])
            _unchanged(called)
        return (
            "dx, dγ and dβ agree with bnlib for square and rectangular (N, D) inputs: dx reduces over "
            "each example's features, dγ and dβ over the batch."
        )

    return _run("layernorm_backward", cases)
