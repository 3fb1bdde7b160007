"""Train several networks of one architecture at once (one per seed), vectorised with ``torch.func.vmap``.

``train_together(models, data, configs)`` does what ``[train(m, data, c) for m, c in zip(models,
configs)]`` does, up to floating-point rounding, in a fraction of the time: the ``K`` networks'
parameters are stacked along a new leading axis and one vmapped forward and backward pass serves
all of them. A lesson can then show ten seeds for little more than the price of one.

Lesson that imports it: 07.
"""

import copy
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .batching import BATCH_ORDERS
from .data import Dataset
from .sgd import SGD
from .training import History, TrainConfig


def _check(models: Sequence[nn.Module], configs: Sequence[TrainConfig]) -> None:
    if len(models) == 0 or len(models) != len(configs):
        raise ValueError(
            f"need one config per model and at least one model, got {len(models)} models and {len(configs)} configs"
        )
    shapes = [{k: tuple(v.shape) for k, v in m.state_dict().items()} for m in models]
    if any(s != shapes[0] or str(m) != str(models[0]) for s, m in zip(shapes, models)):
        raise ValueError("all models must have the same architecture (same layers, parameter and buffer shapes)")
    if any(replace(c, seed=0) != replace(configs[0], seed=0) for c in configs):
        raise ValueError("the configs may differ only in their seed")


def train_together(
    models: Sequence[nn.Module],
    data: Dataset,
    configs: Sequence[TrainConfig],
    order: str = "shuffled",
    before_step: Callable[[int, nn.Module], None] | None = None,
) -> list[History]:
    """Train ``models[k]`` in place with mini-batch SGD on cross-entropy under ``configs[k]``, all at once.

    Model ``k`` sees the batch stream of ``configs[k].seed`` (the same stream as
    :func:`bnlib.lab.training.train` for ``order="shuffled"``) and gets exactly the update ``train``
    would give it: its loss is the mean cross-entropy over its own batch, and SGD (with momentum and
    weight decay) acts on each entry separately. Results agree with ``train`` up to rounding, which
    a long run amplifies. Test accuracy is measured in eval mode at step 0, every ``eval_every``
    steps and after the last step, as in ``train``. BN layers update their running statistics as
    usual. Dropout masks are drawn from torch's global generator, seeded with ``configs[0].seed``
    for the duration of the call (the global state is restored afterwards), so they differ from
    those of ``train`` and depend on which models are trained together.

    Args:
        models: ``K`` networks of identical architecture mapping ``(N, features)`` to logits.
            BN layers with ``momentum=None`` are not supported (vmap cannot read the batch count).
        data: the training and test sets.
        configs: ``K`` configs that differ only in ``seed``.
        order: a batch order from :data:`bnlib.lab.batching.BATCH_ORDERS` (``"shuffled"``,
            ``"by_class"``, ``"by_class_in_order"``).
        before_step: if given, called as ``before_step(step, module)`` before each step (``step`` from
            1) with the one module whose forward serves all ``K`` networks: a schedule can set plain
            attributes there (e.g. :class:`bnlib.nn.BatchRenorm`'s ``r_max``, ``d_max``) for all
            models at once. Parameters and buffers live outside it and must not be touched.
    Returns:
        one :class:`bnlib.lab.training.History` per model.
    """
    _check(models, configs)
    if order not in BATCH_ORDERS:
        raise ValueError(f"order must be one of {sorted(BATCH_ORDERS)}, got {order!r}")
    config, k_models = configs[0], len(models)
    params, buffers = stack_module_state(list(models))  # name -> (K, *shape)
    params = {name: p.detach().clone().requires_grad_() for name, p in params.items()}
    template = copy.deepcopy(models[0]).to("meta")

    def forward(p, b, x):
        return functional_call(template, (p, b), (x,))

    train_forward = vmap(forward, in_dims=(0, 0, 0), randomness="different")  # x: (K, m, features)
    eval_forward = vmap(forward, in_dims=(0, 0, None), randomness="different")  # x: (N, features), shared
    optimizer = SGD(params.values(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    streams = [
        BATCH_ORDERS[order](data.y_train, config.batch_size, torch.Generator().manual_seed(c.seed)) for c in configs
    ]
    histories = [History() for _ in models]

    @torch.no_grad()
    def evaluate(step: int) -> None:
        template.eval()
        predicted = eval_forward(params, buffers, data.x_test).argmax(dim=2)  # (K, n_test)
        template.train()
        for history, acc in zip(histories, (predicted == data.y_test).float().mean(dim=1).tolist()):
            history.eval_steps.append(step)
            history.test_accuracy.append(acc)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        template.train()
        evaluate(0)
        for step in range(1, config.steps + 1):
            if before_step is not None:
                before_step(step, template)
            index = torch.stack([next(s) for s in streams])  # (K, m)
            logits = train_forward(params, buffers, data.x_train[index])  # (K, m, classes)
            losses = (
                F.cross_entropy(logits.flatten(0, 1), data.y_train[index].flatten(), reduction="none")
                .view(k_models, -1)
                .mean(dim=1)
            )  # (K,)
            optimizer.zero_grad()
            losses.sum().backward()  # model k's parameters get the gradient of its own loss
            optimizer.step()
            for history, loss in zip(histories, losses.tolist()):
                history.train_loss.append(loss)
            if step % config.eval_every == 0 or step == config.steps:
                evaluate(step)
    with torch.no_grad():
        for k, model in enumerate(models):
            for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
                tensor.copy_((params if name in params else buffers)[name][k])
            model.train()
    return histories
