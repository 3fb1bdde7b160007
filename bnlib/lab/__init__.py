"""The lesson plumbing: everything the notebooks' experiments need that is not BN math.

One job per module (import the one you need; all of them need torch, plotting needs matplotlib):

    bnlib.lab.data          the 8x8 digits data set, split and standardised; the one split seed
    bnlib.lab.models        MLPConfig and build_mlp: seeded MLPs with none, BN, LN or GN
    bnlib.lab.training      TrainConfig and train: a seeded SGD loop that returns a History
    bnlib.lab.sgd           SGD: torch.optim.SGD's CPU update, bit for bit, without importing torch's compiler
    bnlib.lab.vectorized    train_together: several seeds of one network trained at once (torch.func.vmap)
    bnlib.lab.side_by_side  train_side_by_side: K small MLPs trained at once with batched SGD,
                            optionally tracing each weight row's norm, gradient and turn per step
    bnlib.lab.batching      batch orders: shuffled, or sorted by class
    bnlib.lab.dropout       with_dropout: nn.Dropout on the hidden layers of an MLP
    bnlib.lab.recorder      ActivationRecorder: pre-activation statistics over training
    bnlib.lab.gradients     backprop_signals: z, delta = dL/dz and dL/dW of every layer from one pass
    bnlib.lab.weight_recorder WeightNormRecorder: weight norms and the update-to-data ratio
    bnlib.lab.shift         how far a layer's input distribution moves: per example, its moments
                            (location and scale) under a perturbation, and its drift over training
    bnlib.lab.estimators    test-time BN statistics: exact, precise BN, and train_and_track
    bnlib.lab.layer_runs    a BN layer's outputs and running statistics after every step
    bnlib.lab.compgraph     draw_graph: a computational graph with local derivatives on its edges
    bnlib.lab.timing        interleaved timing and median speed-ups (figures only, never asserts)
    bnlib.lab.processes     run_in_processes: a gloo process group on 127.0.0.1 that always shuts down
    bnlib.lab.data_parallel data-parallel training of an MLP with BN, real or simulated in one process
    bnlib.lab.landscape     Santurkar et al.'s probes: noisy BN, gradient-based ICS, loss and gradient
                            along the gradient direction, and the SGD loop that runs them
    bnlib.lab.explorer      lesson 10's explorer: train one setting, cache it, draw it, wire the widgets
    bnlib.lab.plotting      plot helpers that draw on the ``ax`` they are given and return it
    bnlib.lab.claims        claim: the assert behind every statistical claim of a lesson, recorded
                            so that benchmarks/seed_sweep.py can show its distribution over seeds

The BN math itself (numpy functions, layers, torch modules) lives in :mod:`bnlib`.
"""
