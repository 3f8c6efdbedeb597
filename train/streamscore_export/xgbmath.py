"""XGBoost's own float32 output transforms, for reference rows where the
library's ``predict`` does not give the bundle's scores directly
(``binary:logitraw`` served as a binary probability; ``multi:softmax``, whose
``predict_proba`` is scipy's softmax of the margins, not XGBoost's).

XGBoost computes them with the C library's ``expf``; glibc's is not
correctly rounded everywhere (scoring/expf.go), so this calls the same
function through ctypes (Linux) instead of numpy's exp.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

_libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_libm.expf.restype, _libm.expf.argtypes = ctypes.c_float, [ctypes.c_float]

f32 = np.float32


def expf(v) -> np.float32:
    return f32(_libm.expf(float(f32(v))))


def sigmoid(margins) -> np.ndarray:
    """common::Sigmoid of XGBoost, element-wise: 1 / (1 + expf(min(-x, 88.7))) in float32."""
    m = np.asarray(margins, dtype=np.float32).reshape(-1)
    return np.asarray([f32(1) / (expf(min(-x, f32(88.7))) + f32(1)) for x in m], dtype=np.float32)


def binary_proba(p) -> np.ndarray:
    """[1 - p, p] per row in float32, as XGBClassifier.predict_proba builds it."""
    p = np.asarray(p, dtype=np.float32).reshape(-1)
    return np.stack([f32(1) - p, p], axis=1)


def softmax(margins) -> np.ndarray:
    """common::Softmax of XGBoost per row, as multi:softprob computes it: float32 exponentials of
    x - max, a float64 sum rounded to float32, float32 divisions."""
    out = []
    for row in np.atleast_2d(np.asarray(margins, dtype=np.float32)):
        e = np.asarray([expf(x - row.max()) for x in row], dtype=np.float32)
        out.append(e / f32(e.astype(np.float64).sum()))
    return np.asarray(out, dtype=np.float32)
