"""The lesson plumbing: everything the notebooks' experiments need that is not BN math.

One job per module (import the one you need; all of them need torch, plotting needs matplotlib):

    bnlib.lab.data       the 8x8 digits data set, split and standardised; the one split seed
    bnlib.lab.models     MLPConfig and build_mlp: seeded MLPs with none, BN, LN or GN
    bnlib.lab.training   TrainConfig and train: a seeded SGD loop that returns a History
    bnlib.lab.recorder   ActivationRecorder: pre-activation statistics over training
    bnlib.lab.plotting   plot helpers that draw on the ``ax`` they are given and return it
    bnlib.lab.explorer   lesson 10's explorer: one cached training run per control setting, its
                         figure, and the ipywidgets controls (ipywidgets imported only there)
    bnlib.lab.claims     claim: the assert behind every statistical claim of a lesson, recorded
                         so that benchmarks/seed_sweep.py can show its distribution over seeds

The BN math itself (numpy functions, layers, torch modules) lives in :mod:`bnlib`.
"""
