"""``import bnlib`` and its functional API work where torch cannot be imported (a numpy-only reader)."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None          # any "import torch" now raises ImportError
    import numpy as np
    import bnlib
    assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None], "bnlib imported torch"
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(8, 3, 4))
    y, cache = bnlib.batchnorm_forward(x, np.ones(3), np.zeros(3))
    dx, dgamma, dbeta = bnlib.batchnorm_backward(np.ones_like(x), cache)
    assert abs(y.mean()) < 1e-12 and abs(dx).max() < 1e-12 and np.allclose(dbeta, 32.0)
    y_eval = bnlib.batchnorm_inference(x, np.ones(3), np.zeros(3), cache.mean, cache.var, 1e-5)
    assert np.allclose(y_eval, y)
    y_ln, c_ln = bnlib.layernorm_forward(x, np.ones(4), np.zeros(4))
    assert bnlib.layernorm_backward(np.ones_like(x), c_ln)[0].shape == x.shape
    y_gn, c_gn = bnlib.groupnorm_forward(x, np.ones(3), np.zeros(3), 3)
    assert np.allclose(y_gn.reshape(8, 3, 4).mean(axis=2), 0.0)
    layer = bnlib.BatchNorm(3)
    layer(x); layer.backward(np.ones_like(x))
    mean, var, count = bnlib.update_running_stats(np.zeros(3), np.ones(3), cache.mean, cache.var, 32)
    bnlib.fold_batchnorm(np.ones((3, 2)), None, np.ones(3), np.zeros(3), mean, var)
    try:
        import bnlib.nn
    except ImportError:
        print("ok")
""")


def test_functional_api_runs_with_torch_blocked():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
