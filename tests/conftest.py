"""Fixtures and option lists shared by the unit tests (import the lists with ``from conftest import ...``)."""

import itertools
import os
import sys
from pathlib import Path

import hypothesis
import numpy as np
import pytest
import torch

# Property tests: a developer's run explores new random examples every time; CI (which sets CI=true)
# replays a fixed set, so that a submission is judged on the same examples as the run before it.
hypothesis.settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis.settings.load_profile("ci")

# Input shapes of ranks 2-5 for the parity tests: (N, C, *spatial).
SHAPES = [(6, 3), (4, 3, 5), (3, 3, 4, 2), (2, 3, 2, 3, 2)]
# The torch class with BN semantics for each rank.
TORCH_BN = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d, 4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}
# eps values every parity test runs with: the default, a large one and a tiny one.
EPS_VALUES = [1e-5, 1e-1, 1e-9]
# momentum values: the edges 0 (never move) and 1 (last batch only), the default, and None (cumulative average).
MOMENTA = [0.0, 0.1, 1.0, None]
# Every constructor option of a BN layer (momentum x affine x bias x track_running_stats).
BN_OPTIONS = [
    dict(momentum=mo, affine=af, bias=bi, track_running_stats=tr)
    for mo, (af, bi), tr in itertools.product(MOMENTA, [(True, True), (True, False), (False, True)], [True, False])
]
# LayerNorm input shapes (ranks 2-5) with the normalized_shape taken from their tail.
LN_CASES = [
    ((6, 4), (4,)),
    ((3, 4, 5), (5,)),
    ((3, 4, 5), (4, 5)),
    ((2, 3, 4, 2), (4, 2)),
    ((2, 2, 3, 2, 2), (3, 2, 2)),
    ((2, 2, 3, 2, 2), (2,)),
]
LN_OPTIONS = [
    dict(elementwise_affine=True, bias=True),
    dict(elementwise_affine=True, bias=False),
    dict(elementwise_affine=False),
]
# GroupNorm: (input shape, num_groups) for ranks 2-5 with num_groups = 1, between, and C.
GN_CASES = [
    ((5, 6), 1),
    ((5, 6), 3),
    ((5, 6), 6),
    ((3, 4, 5), 2),
    ((3, 4, 5), 4),
    ((2, 6, 3, 2), 1),
    ((2, 6, 3, 2), 3),
    ((2, 6, 3, 2), 6),
    ((2, 4, 2, 3, 2), 2),
]
GN_OPTIONS = [dict(affine=True, bias=True), dict(affine=True, bias=False), dict(affine=False)]


def option_id(options: dict) -> str:
    """A readable test id for one dict of constructor options."""
    return "-".join(f"{k}={v}" for k, v in options.items())


# Tolerances, stated once. float64 parity with torch: agreement to rounding.
F64 = dict(rtol=1e-10, atol=1e-12)
# float32 parity with torch: both round x_hat to float32 (about 6e-8 relative) and sum in
# different orders; values are O(1) to O(10), so 1e-5 absolute is a few dozen float32 ulps.
F32 = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The static site, built once per session by ``tools/build_site.py`` into a temporary folder:
    the folder holding ``index.html`` (shared by test_site.py and test_browser_site.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import build_site

    return build_site.build(tmp_path_factory.mktemp("site"))


@pytest.fixture
def rng():
    """A seeded numpy generator: every test sees the same data on every run."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Run torch on one thread, as the notebooks do: small networks train fastest that way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
