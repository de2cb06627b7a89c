"""The process-wide tuning glassnet applies at import: glibc's malloc thresholds and OpenBLAS's idle spin.

Each case runs in a fresh interpreter, because both are applied once, when glassnet is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from glassnet import blas

PROBE = """
import json, os
import numpy as np
import glassnet as gn
from glassnet import allocator, blas
timeout = blas.symbol("openblas_thread_timeout")
if timeout is not None:
    import ctypes
    timeout.argtypes, timeout.restype = [], ctypes.c_int
rng = np.random.default_rng(0)
a, b = rng.standard_normal((300, 200), dtype=np.float32), rng.standard_normal((200, 100), dtype=np.float32)
print(json.dumps({"spin_tuned": blas.spin_wait_is_tuned(), "malloc_tuned": allocator.is_tuned(),
                  "timeout": None if timeout is None else timeout(),
                  "product": (a @ b).tobytes().hex()}))
"""


def probe(**env):
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("OPENBLAS_THREAD_TIMEOUT", "GOTO_THREAD_TIMEOUT", "GLASSNET_TUNE_BLAS",
                                "GLASSNET_TUNE_MALLOC")}
    environment.update(env)
    out = subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True, timeout=120,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


needs_openblas = pytest.mark.skipif(blas.symbol("openblas_read_env") is None,
                                    reason="NumPy is not linked against an OpenBLAS exposing its thread controls")


@needs_openblas
def test_import_lowers_openblas_spin_and_results_do_not_change():
    tuned, untouched = probe(), probe(GLASSNET_TUNE_BLAS="0")
    assert tuned["spin_tuned"] is True and tuned["timeout"] == blas.SPIN_EXPONENT
    assert untouched["spin_tuned"] is False and untouched["timeout"] != blas.SPIN_EXPONENT
    assert tuned["product"] == untouched["product"]  # the same GEMM, bit for bit


@needs_openblas
def test_a_users_own_thread_timeout_is_respected():
    result = probe(OPENBLAS_THREAD_TIMEOUT="10")
    assert result["spin_tuned"] is False and result["timeout"] == 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_malloc_tuning_can_be_switched_off():
    assert probe()["malloc_tuned"] is True
    assert probe(GLASSNET_TUNE_MALLOC="0")["malloc_tuned"] is False


def test_training_in_this_process_still_uses_a_working_blas():
    """After the threads were restarted at import, threaded GEMMs give NumPy's exact results."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((512, 384)), rng.standard_normal((384, 256))
    reference = np.einsum("ik,kj->ij", a, b)
    np.testing.assert_allclose(a @ b, reference, rtol=1e-10, atol=1e-10)
