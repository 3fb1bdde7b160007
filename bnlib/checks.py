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
``SystemExit`` pass through). The one exception is a ``language`` it does not speak.

**Languages.** Every check takes ``language="en"`` or ``language="zh"`` (simplified Chinese) and
gives its feedback in that language, from one catalogue, :mod:`bnlib.messages`; the verdict, the
mistake's key and everything else are the same in both.

Pure numpy: ``import bnlib.checks`` does not import torch.
"""

import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np

from .fold import fold_batchnorm
from .functional import batch_statistics, batchnorm_backward, batchnorm_forward, layernorm_backward, layernorm_forward
from .messages import LANGUAGES, say
from .running_stats import update_running_stats
from .validation import check_choice

RTOL, ATOL = 1e-10, 1e-12  # an answer agrees with bnlib: |answer - correct| <= ATOL + RTOL·|correct|
F32_RTOL, F32_ATOL = 1e-4, 1e-6  # ... to float32 precision (float32 resolves 1.2e-7 relative)
FLOAT32_RESOLUTION = float(np.finfo(np.float32).eps)

_LANGUAGE = ContextVar("language", default="en")  # the language of the check that is running


def _say(key: str, **fields) -> str:
    """The message ``key`` of :mod:`bnlib.messages` in the running check's language."""
    return say(key, _LANGUAGE.get(), **fields)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check.

    Attributes:
        exercise: the function checked, e.g. ``"batchnorm_forward"``.
        passed: True when every case agreed with bnlib and the graded contract holds.
        message: what was checked, or what is wrong, in a student's words.
        mistake: short key of the recognised mistake (e.g. ``"eps_outside_sqrt"``), or None.
        language: the language of ``message`` and of the verdict, ``"en"`` or ``"zh"``.
    """

    exercise: str
    passed: bool
    message: str
    mistake: str | None = None
    language: str = "en"

    def __str__(self) -> str:
        verdict = say("passed" if self.passed else "not_yet", self.language)
        return say("result", self.language, exercise=self.exercise, verdict=verdict, message=self.message)

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        verdict = say("passed_markdown" if self.passed else "not_yet_markdown", self.language)
        return say("result_markdown", self.language, exercise=self.exercise, verdict=verdict, message=self.message)

    def assert_passed(self) -> None:
        """Raise ``AssertionError`` with the message unless the check passed (the graded cells' test)."""
        if not self.passed:
            raise AssertionError(self.message)


class _Wrong(Exception):
    """Raised inside a check to stop at the first wrong case with a message."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.message, self.mistake = message, mistake
        self.broadcast = False  # the student's function failed with a broadcasting error


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
        raise _Wrong(_say("not_callable", kind=_type_name(fn)), "not_callable")
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
                _say(
                    "signature_keywords" if keywords else "signature_positional",
                    positional=positional,
                    keywords=", ".join(keywords),
                    shown=shown,
                    error=_text(error),
                    signature=contract.signature,
                ),
                "signature",
            ) from None
    for name, default in contract.defaults.items():
        parameter = signature.parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            if not (isinstance(parameter.default, (int, float)) and parameter.default == default):
                raise _Wrong(
                    _say(
                        "signature_default",
                        name=name,
                        value=_text(parameter.default),
                        default=default,
                        signature=contract.signature,
                    ),
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
        raise _Wrong(_say("not_implemented"), "not_implemented") from None
    except Exception as error:  # noqa: BLE001 -- the student's bug, reported
        broadcast = "broadcast" in _text(error, 10_000)
        hint = _say(_BROADCAST_HINTS[contract.signature.split("(")[0]]) if broadcast else ""
        wrong = _Wrong(_say("raised", kind=type(error).__name__, error=_text(error), hint=hint), "raised")
        wrong.broadcast = broadcast
        raise wrong from None
    changed = [
        k
        for k, v in inputs.items()
        if isinstance(v, np.ndarray)
        and not (copies[k].shape == v.shape and np.array_equal(copies[k], v, equal_nan=copies[k].dtype.kind == "f"))
    ]
    return _Called(value, changed)


_BROADCAST_HINTS = {  # the exercise's function -> the message that explains a broadcasting error in it
    "batchnorm_forward": "broadcast_bn",
    "running_update": "broadcast_bn",
    "batchnorm_backward": "broadcast_bn",
    "fold": "broadcast_fold",
    "layernorm_forward": "broadcast_ln",
    "layernorm_backward": "broadcast_ln",
}


def _unchanged(called: _Called) -> None:
    """Raise a :class:`_Wrong` if the student's function changed an array it was given."""
    if called.changed:
        name = called.changed[0]
        raise _Wrong(_say("in_place", name=name), "in_place")


def _single(value, what: str):
    """The graded cells use the returned value as one array: refuse a tuple, such as CS231n's (y, cache)."""
    if isinstance(value, tuple):
        raise _Wrong(_say("returned_tuple", what=what, length=len(value)), "returned_tuple")
    return value


def _unpack(value, n: int, names: str):
    if not isinstance(value, (tuple, list)) or len(value) != n:
        if isinstance(value, (tuple, list)):
            raise _Wrong(
                _say("wrong_return_length", names=names, kind=_type_name(value), length=len(value)), "wrong_return"
            )
        raise _Wrong(_say("wrong_return", names=names, kind=_type_name(value)), "wrong_return")
    return value


def _as_array(value, what: str, shape) -> np.ndarray:
    """``value`` if it is a floating-point numpy array of ``shape`` with finite values, else a :class:`_Wrong`."""
    if not isinstance(value, np.ndarray):
        kind = _type_name(value)
        if value is None:
            advice = _say("advice_return")
        elif kind.startswith("torch."):
            advice = _say("advice_torch")
        elif isinstance(value, (list, tuple)):
            advice = _say("advice_list", shape=tuple(shape))
        else:
            advice = _say("advice_array", shape=tuple(shape))
        raise _Wrong(_say("not_an_array", what=what, shape=tuple(shape), kind=kind, advice=advice), "wrong_type")
    if value.dtype.kind != "f":
        raise _Wrong(_say("wrong_dtype", what=what, dtype=value.dtype), "wrong_type")
    if value.shape != tuple(shape):
        raise _Wrong(_say("wrong_shape", what=what, got=value.shape, shape=tuple(shape)), "wrong_shape")
    finite = np.isfinite(value)
    if not np.all(finite):
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise _Wrong(
            _say("not_finite", what=what, count=int((~finite).sum()), size=value.size, first=first), "not_finite"
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
    peak = float(error.max())
    if layout == "channel":
        return _say("where_channel", channel=int(index[1] if error.ndim > 1 else index[0]), error=peak)
    if layout == "row":
        return _say("where_weight_row" if error.ndim > 1 else "where_output_feature", row=int(index[0]), error=peak)
    if error.ndim > 1:
        return _say("where_example", example=int(index[0]), feature=int(index[1]), error=peak)
    return _say("where_feature", feature=int(index[0]), error=peak)


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
                    source = _say("float32_input_rounded", name=name)
                    break
        source = source or _say("float32_middle")
    elif np.array_equal(answer, correct.astype(answer.dtype)):
        source = _say("float32_rounded_at_end", dtype=answer.dtype)
    else:
        source = _say("float32_throughout", dtype=answer.dtype)
    where = _where(error, layout)
    return _say(
        "float32", what=what, case=case, relative=relative, resolution=FLOAT32_RESOLUTION, where=where, source=source
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
                raise _Wrong(
                    _say("wrong_known", what=what, case=case, message=message, where=_where(error, layout)), key
                )
        where = _where(error, layout)
        raise _Wrong(_say("wrong_values", what=what, case=case, error=float(error.max()), where=where), "wrong_values")


def _run(exercise: str, cases: Callable[[], str], language: str) -> CheckResult:
    """Run ``cases`` with its messages in ``language``; its summary or first :class:`_Wrong` is the result."""
    check_choice(language, "language", LANGUAGES)
    token = _LANGUAGE.set(language)
    try:
        summary = cases()
    except _Wrong as wrong:
        return CheckResult(exercise, False, wrong.message, wrong.mistake, language)
    except Exception as error:  # noqa: BLE001 -- the promise: a check never raises
        message = _say("unusable", kind=type(error).__name__, error=_text(error))
        return CheckResult(exercise, False, message, "unusable", language)
    finally:
        _LANGUAGE.reset(token)
    return CheckResult(exercise, True, summary, language=language)


def _eps_ignored(reference, inputs) -> tuple:
    """The answer of a function that uses the default ε = 1e-5 instead of the ``eps`` it is given."""
    return reference(dict(inputs, eps=1e-5)), _say("eps_ignored", eps=inputs["eps"])


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
            _say("forward_channel_axis"),
        ),
        "not_over_hw": (
            g * norm(*no_hw) + b if nd > 2 else None,
            _say("forward_not_over_hw"),
        ),
        "shared_scalar": (
            g * norm(x.mean(), x.var()) + b,
            _say("forward_shared_scalar"),
        ),
        "unbiased_variance": (
            g * norm(mu, x.var(axis=axes, ddof=1, keepdims=True)) + b,
            _say("forward_unbiased_variance"),
        ),
        "eps_outside_sqrt": (
            g * norm(mu, var, eps_inside=False) + b,
            _say("forward_eps_outside_sqrt"),
        ),
        "no_sqrt": (
            g * (x - mu) / (var + eps) + b,
            _say("forward_no_sqrt"),
        ),
        "gamma_beta_not_applied": (
            norm(mu, var),
            _say("forward_gamma_beta_not_applied"),
        ),
        "gamma_beta_swapped": (
            b * norm(mu, var) + g,
            _say("forward_gamma_beta_swapped"),
        ),
    }
    return correct, mistakes


_FORWARD = _Contract("batchnorm_forward(x, gamma, beta, eps=1e-5)", ((4, ()), (3, ("eps",))), ("eps",), {})


def check_batchnorm_forward(fn, language: str = "en") -> CheckResult:
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
            answer = _as_array(_single(called.value, "y"), _say("what_y"), x.shape)
            _, mistakes = _forward_variants(x, GAMMA, BETA, EPS)
            mistakes["eps_ignored"] = _eps_ignored(reference, inputs)
            _diagnose(
                answer, reference(inputs), mistakes, _say("what_y"), _describe(shape), "channel", reference, inputs
            )
            _unchanged(called)
        return _say("forward_passed")

    return _run("batchnorm_forward", cases, language)


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
            raise _Wrong(_say("statistic_not_over_hw", what=what, shape=shape_now), "not_over_hw")
        if shape_now in ((x_shape[0],), (x_shape[0], 1)):
            raise _Wrong(_say("statistic_channel_axis", what=what), "channel_axis")
        if shape_now == ():
            raise _Wrong(_say("statistic_shared_scalar", what=what), "shared_scalar")


def check_running_update(fn, language: str = "en") -> CheckResult:
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
                if wrong.broadcast:  # a statistic of the wrong shape met the (C,) estimates:
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

            _diagnose(
                got_mean,
                new_mean,
                {
                    "momentum_reversed": (
                        k * RUNNING_MEAN + r * mu,
                        _say("running_mean_momentum_reversed"),
                    ),
                    "no_update": (RUNNING_MEAN, _say("running_mean_no_update")),
                    "batch_only": (mu, _say("running_mean_batch_only")),
                    "shared_scalar": (
                        np.full(shape[1], x.mean()) * k + r * RUNNING_MEAN,
                        _say("running_mean_shared_scalar"),
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
                        _say("running_var_biased"),
                    ),
                    "bessel_with_n": (
                        r * RUNNING_VAR + k * var * shape[0] / (shape[0] - 1) if len(shape) > 2 else None,
                        _say("running_var_bessel_with_n"),
                    ),
                    "momentum_reversed": (
                        k * RUNNING_VAR + r * unbiased,
                        _say("running_var_momentum_reversed"),
                    ),
                    "no_update": (RUNNING_VAR, _say("running_var_no_update")),
                    "batch_only": (unbiased, _say("running_var_batch_only")),
                },
                "new_var",
                _describe(shape),
                "channel",
                lambda i: reference(i, 1),
                inputs,
            )
            _unchanged(called)
        return _say("running_passed")

    return _run("running_update", cases, language)


# ---------------------------------------------------------------- exercises 3 and 5: backward


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
            _say("backward_missing_var_path"),
        ),
        "missing_mean_path": (
            inv_std * (g - x_hat * (g * x_hat).mean(axis=stat_axes, keepdims=True)),
            _say("backward_missing_mean_path"),
        ),
        "no_statistics_path": (
            inv_std * g,
            _say("backward_no_statistics_path"),
        ),
        "gamma_forgotten": (
            _compact_dx(dy, x_hat, inv_std, stat_axes),
            _say("backward_gamma_forgotten"),
        ),
        "unbiased_variance": (
            iu
            * (
                g
                - g.mean(axis=stat_axes, keepdims=True)
                - xu * (g * xu).mean(axis=stat_axes, keepdims=True) * m / (m - 1)
            ),
            _say("backward_unbiased_variance"),
        ),
    }
    dgamma_mistakes = {
        "dgamma_dbeta_swapped": (dbeta, _say("backward_dgamma_dbeta_swapped")),
        "dgamma_uses_x": ((dy * x).sum(axis=param_axes), _say("backward_dgamma_uses_x")),
    }
    dbeta_mistakes = {"dgamma_dbeta_swapped": (dgamma, _say("backward_dgamma_dbeta_swapped"))}
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


def check_batchnorm_backward(fn, language: str = "en") -> CheckResult:
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
                    _say("backward_m_is_n", n=n, m=x.size // shape[1]),
                )
            called, answer, diagnose = _check_gradients(
                fn, _BACKWARD, inputs, reference, known, (shape, (3,), (3,)), _describe(shape), "channel"
            )
            for what, value in zip(("dgamma", "dbeta"), answer[1:]):
                if len(shape) > 2 and np.shape(value) == shape[1:]:
                    raise _Wrong(_say("backward_param_not_over_hw", what=what, shape=np.shape(value)), "not_over_hw")
            for k in range(3):
                diagnose(k, answer[k])
            _unchanged(called)
        return _say("backward_passed")

    return _run("batchnorm_backward", cases, language)


# ---------------------------------------------------------------- exercise 4: folding
_FOLD = _Contract("fold(W, b, gamma, beta, mean, var, eps=1e-5)", ((6, ("eps",)), (6, ())), ("eps",), {"eps": 1e-5})


def check_fold_batchnorm(fn, language: str = "en") -> CheckResult:
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
            case = _say("case_weight", rows=shape[0], columns=shape[1])
            got_W = _as_array(answer[0], "W_folded", shape)
            got_b = _as_array(answer[1], "b_folded", (3,))
            outside = _say("fold_eps_outside_sqrt")
            _diagnose(
                got_W,
                W_ref,
                {
                    "scale_on_inputs": (
                        W * s[None, :] if shape[0] == shape[1] else None,
                        _say("fold_scale_on_inputs"),
                    ),
                    "std_without_eps": (W * s_no_eps[:, None], _say("fold_std_without_eps")),
                    "eps_outside_sqrt": (W * s_outside[:, None], outside),
                    "var_not_std": (
                        W * s_var[:, None],
                        _say("fold_var_not_std"),
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
                        _say("fold_forgot_bias"),
                    ),
                    "mean_sign": (
                        s * (b + mean) + BETA,
                        _say("fold_mean_sign"),
                    ),
                    "std_without_eps": (s_no_eps * (b - mean) + BETA, _say("fold_std_without_eps")),
                    "eps_outside_sqrt": (s_outside * (b - mean) + BETA, outside),
                    "forgot_beta": (s * (b - mean), _say("fold_forgot_beta")),
                    "bias_not_scaled": (
                        b + BETA - s * mean,
                        _say("fold_bias_not_scaled"),
                    ),
                },
                "b_folded",
                case,
                "row",
                lambda i: reference(i)[1],
                inputs,
            )
            _unchanged(called)
        return _say("fold_passed")

    return _run("fold_batchnorm", cases, language)


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


def _ln_describe(shape) -> str:
    return _say("case_square" if shape[0] == shape[1] else "case_rectangular", rows=shape[0], columns=shape[1])


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
            _say("layernorm_batch_axis"),
        ),
        "params_per_example": (
            gamma[:, None] * x_hat + beta[:, None] if square else None,
            _say("layernorm_params_per_example"),
        ),
        "keepdims_lost": (
            gamma * (x - mu.T) / np.sqrt(var.T + eps) + beta if square else None,
            _say("layernorm_keepdims_lost"),
        ),
        "shared_scalar": (
            gamma * (x - x.mean()) / np.sqrt(x.var() + eps) + beta,
            _say("layernorm_shared_scalar"),
        ),
        "unbiased_variance": (
            gamma * (x - mu) / np.sqrt(x.var(axis=1, ddof=1, keepdims=True) + eps) + beta,
            _say("layernorm_unbiased_variance"),
        ),
        "eps_outside_sqrt": (
            gamma * (x - mu) / (np.sqrt(var) + eps) + beta,
            _say("layernorm_eps_outside_sqrt"),
        ),
        "gamma_beta_not_applied": (x_hat, _say("layernorm_gamma_beta_not_applied")),
        "gamma_beta_swapped": (beta * x_hat + gamma, _say("layernorm_gamma_beta_swapped")),
    }
    return correct, mistakes


def check_layernorm_forward(fn, language: str = "en") -> CheckResult:
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
            answer = _as_array(_single(called.value, "y"), _say("what_y"), shape)
            _, mistakes = _layernorm_variants(x, LN_GAMMA, LN_BETA, EPS)
            mistakes["eps_ignored"] = _eps_ignored(reference, inputs)
            _diagnose(
                answer, reference(inputs), mistakes, _say("what_y"), _ln_describe(shape), "example", reference, inputs
            )
            _unchanged(called)
        return _say("layernorm_passed")

    return _run("layernorm_forward", cases, language)


def check_layernorm_backward(fn, language: str = "en") -> CheckResult:
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
            reused = _say("layernorm_backward_reused")
            known[0] = {
                "bn_backward_reused": (bn_dx, _say("layernorm_backward_bn_reused", reused=reused)),
                "bn_axes_in_dx": (
                    _compact_dx(g, x_hat, inv_std, (0,)),
                    _say("layernorm_backward_bn_axes_in_dx", reused=reused),
                ),
                "m_is_n": (
                    _compact_dx(g, x_hat, inv_std, (1,), m=shape[0]) if shape[0] != shape[1] else None,
                    _say("layernorm_backward_m_is_n", n=shape[0], d=shape[1]),
                ),
                **known[0],
            }
            known[1] = {
                "bn_backward_reused": (bn_dgamma, _say("layernorm_backward_dgamma_bn_reused", reused=reused)),
                "dgamma_over_features": (
                    (dy * x_hat).sum(axis=1) if shape[0] == shape[1] else None,
                    _say("layernorm_backward_dgamma_over_features"),
                ),
                **known[1],
            }
            known[2] = {
                "dbeta_over_features": (
                    dy.sum(axis=1) if shape[0] == shape[1] else None,
                    _say("layernorm_backward_dbeta_over_features"),
                ),
                **known[2],
            }
            called, answer, diagnose = _check_gradients(
                fn, _LN_BACKWARD, inputs, reference, known, (shape, (4,), (4,)), _ln_describe(shape), "example"
            )
            for what, value in zip(("dgamma", "dbeta"), answer[1:]):
                if np.shape(value) in ((shape[0],), (shape[0], 1)) and shape[0] != shape[1]:
                    raise _Wrong(
                        _say("layernorm_backward_param_per_example", what=what, shape=np.shape(value)),
                        f"{what}_over_features",
                    )
            for k in range(3):
                diagnose(k, answer[k])
            _unchanged(called)
        return _say("layernorm_backward_passed")

    return _run("layernorm_backward", cases, language)
