r"""SGD with momentum and weight decay: the update ``torch.optim.SGD`` makes on CPU, bit for bit.

The lessons' training loops use :class:`SGD` instead of ``torch.optim.SGD`` for one reason:
PyTorch wraps its optimizers' methods so that its compiler leaves them alone, and the first call
to one imports that compiler, ``torch._dynamo`` (with SymPy). The lessons never compile anything,
yet on a 2-core machine that import alone takes 1.5-2 s, paid once by every notebook that trains
a network. This class makes the same update without that import.

Lesson that imports it: 06; it is also the optimizer of the training loops in training, vectorized,
estimators, landscape and data_parallel.
"""

import torch

from ..validation import check_nonnegative


class SGD:
    r"""``torch.optim.SGD(params, lr, momentum, weight_decay)`` for CPU tensors (no dampening, no Nesterov).

    For every parameter :math:`\theta` with a gradient :math:`g`, :meth:`step` does

    .. math::

        g &\leftarrow g + \lambda\,\theta && \text{if the weight decay } \lambda \ne 0\\
        v &\leftarrow g \text{ (first step)}, \quad v \leftarrow \mu v + g \text{ (later)};
            \quad g \leftarrow v && \text{if the momentum } \mu \ne 0\\
        \theta &\leftarrow \theta - \eta\, g

    with the tensor operations of PyTorch's single-tensor SGD loop (``_single_tensor_sgd`` in
    ``torch/optim/sgd.py``, the path ``torch.optim.SGD`` takes for CPU tensors) in the same order,
    so parameters and momentum buffers equal ``torch.optim.SGD``'s bit for bit (``tests/test_sgd.py``
    checks it). A parameter without a gradient is skipped, as PyTorch skips it.

    Args:
        params: the parameters to update (an iterable of tensors, e.g. ``model.parameters()``).
        lr: learning rate :math:`\eta > 0`.
        momentum: :math:`\mu \ge 0` (0: plain SGD).
        weight_decay: :math:`\lambda \ge 0`, the L2 penalty's coefficient.

    Raises:
        TypeError: a hyper-parameter that is not a real number (``True``, a string).
        ValueError: ``lr <= 0``, a negative momentum or weight decay, inf or NaN.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        check_nonnegative(lr, "lr", positive=True)
        check_nonnegative(momentum, "momentum")
        check_nonnegative(weight_decay, "weight_decay")
        self.params = list(params)
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self.momentum_buffers: list[torch.Tensor | None] = [None] * len(self.params)  # v, one per parameter

    def zero_grad(self) -> None:
        """Forget every gradient (``param.grad = None``, as ``torch.optim``'s default ``set_to_none=True``)."""
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for i, param in enumerate(self.params):
            if param.grad is None:
                continue
            grad = param.grad
            if self.weight_decay != 0:
                grad = grad.add(param, alpha=self.weight_decay)  # g + λθ
            if self.momentum != 0:
                if self.momentum_buffers[i] is None:
                    self.momentum_buffers[i] = grad.detach().clone()  # v = g
                else:
                    self.momentum_buffers[i].mul_(self.momentum).add_(grad, alpha=1)  # v = μv + g
                grad = self.momentum_buffers[i]
            param.add_(grad, alpha=-self.lr)  # θ - ηg
