#!/usr/bin/env python3
"""Write testdata/expit_scipy.txt: z and scipy.special.expit(z) as float64 bits, one pair per line.

    .venv/bin/python scoring/testdata/make_expit_golden.py

The margins of scikit-learn's probabilities (LogisticRegression, GradientBoosting,
HistGradientBoosting): seeded normal values, the ends of exp's range, and tiny ones. Left out: the
z where glibc's exp(-z) is not the correctly rounded value (about 0.1%), which exp64 does not
reproduce (docs/bundle.md, lightgbm). TestExpitIsScipys reads the file.
"""
import math
import struct
from decimal import Decimal, getcontext
from pathlib import Path

import numpy as np
import scipy.special as sp

getcontext().prec = 60


def bits(v: float) -> str:
    return f"{struct.unpack('<Q', struct.pack('<d', v))[0]:016x}"


def correctly_rounded_exp(x: float) -> float:
    return float(Decimal(x).exp())


rng = np.random.default_rng(9)
zs = list(rng.normal(0, 4, 3000)) + list(rng.uniform(-750, 750, 200))
zs += [0.0, -0.0, 5e-324, -5e-324, 1e-300, 1e-17, -1e-17, 36.7, 36.8, 37.0, 40.0, 708.0, 709.7, 709.8, 710.0,
       745.0, 746.0, -36.7, -40.0, -708.0, -709.7, -709.8, -710.0, -745.0, -745.2, -746.0, -800.0]
lines = []
for z in zs:
    z = float(z)
    e = math.exp(-z) if -z < 709.78 else math.inf
    if math.isfinite(e) and e != 0 and e != correctly_rounded_exp(-z):
        continue  # glibc is one ulp off here
    lines.append(f"{bits(z)} {bits(float(sp.expit(z)))}")
Path(__file__).with_name("expit_scipy.txt").write_text("\n".join(lines) + "\n")
print(len(lines), "of", len(zs))
