# Try-this solutions for lesson 07 (teaching/solutions/07.md): seeds 0..9, split 0, the lesson's setup.
# Run: PYTHONPATH=. python teaching/solutions/07_try_this.py
import copy
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from bnlib.lab.data import Dataset, load_digits_split
from bnlib.lab.models import MLPConfig, build_mlp
from bnlib.lab.renorm import with_batch_renorm
from bnlib.lab.training import TrainConfig, accuracy
from bnlib.lab.vectorized import train_together

torch.set_num_threads(1)
SEEDS = tuple(range(10))
NET = MLPConfig(hidden=(100, 100), activation=nn.ReLU)
LR = 0.1
data = load_digits_split()


def run(nets, train_set, m, steps, order="shuffled"):
    cfgs = [TrainConfig(steps=steps, lr=LR, batch_size=m, eval_every=steps, seed=s) for s in SEEDS]
    train_together(nets, train_set, cfgs, order=order)
    return nets


# 1. gap vs m on 200 images
keep = torch.cat([torch.nonzero(data.y_train == c).flatten()[:20] for c in range(10)])
small = Dataset(data.x_train[keep], data.y_train[keep], data.x_test, data.y_test)
print("Try 1: 200 images, 30 epochs each (steps = 30 * 200 / m)")
res = {}
for norm in ("none", "bn"):
    for m in (5, 20, 200):
        steps = 30 * 200 // m
        nets = run([build_mlp(replace(NET, norm=norm, norm_impl="torch"), s) for s in SEEDS], small, m, steps)
        tr = np.array([accuracy(n, small.x_train, small.y_train) for n in nets])
        te = np.array([accuracy(n, data.x_test, data.y_test) for n in nets])
        res[norm, m] = te
        gap = np.median(tr - te)
        print(
            f"  {norm:4s} m = {m:3d} ({steps:4d} steps): median train {np.median(tr):.3f} test {np.median(te):.3f} gap {gap:.3f}"
        )
for m in (5, 20, 200):
    d = res["bn", m] - res["none", m]
    wins, losses = np.sum(d > 0), np.sum(d < 0)
    print(
        f"  m = {m:3d}: BN minus plain, paired test: median {100 * np.median(d):+.1f} pt, wins {wins}/10, loses {losses}/10"
    )
# 2. which correction matters on sorted batches
print("Try 2: Batch Renorm on class-sorted batches of 32, 200 steps, fixed limits (no warm-up)")
for r_max, d_max in ((1.0, 5.0), (3.0, 0.0), (3.0, 5.0), (1.0, 0.0)):
    nets = run(
        [with_batch_renorm(build_mlp(replace(NET, norm="bn"), s), r_max=r_max, d_max=d_max) for s in SEEDS],
        data,
        32,
        200,
        "by_class",
    )
    te = np.array([accuracy(n, data.x_test, data.y_test) for n in nets])
    print(f"  r_max = {r_max}, d_max = {d_max}: median test {np.median(te):.3f} [{te.min():.2f}, {te.max():.2f}]")
# 3. precise BN after class-sorted training
print("Try 3: BN trained on class-sorted batches, statistics recomputed with shuffled batches")
nets = run([build_mlp(replace(NET, norm="bn", norm_impl="torch"), s) for s in SEEDS], data, 32, 200, "by_class")
before = np.array([accuracy(n, data.x_test, data.y_test) for n in nets])
after = []
for s, net in zip(SEEDS, nets):
    fixed = copy.deepcopy(net)
    for mod in fixed.modules():
        if isinstance(mod, nn.BatchNorm1d):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over the pass
    fixed.train()
    order = torch.randperm(len(data.y_train), generator=torch.Generator().manual_seed(s))
    with torch.no_grad():
        for b in order.split(32):
            if len(b) > 1:
                fixed(data.x_train[b])
    after.append(accuracy(fixed, data.x_test, data.y_test))
after = np.array(after)
print(f"  before: median {np.median(before):.3f} [{before.min():.2f}, {before.max():.2f}]")
print(f"  after: median {np.median(after):.3f} [{after.min():.2f}, {after.max():.2f}]")
