"""What the synthetic example data sets (fraud_data, churn_data) share."""

from __future__ import annotations

import numpy as np


def blank_some(events: list[dict], seed: int, rate: float, fields) -> list[dict]:
    """Copies of the events with `rate` of each of `fields` removed or set to null (half each).

    The draws are seeded, so a data set blanks the same fields on every run.
    """
    rng = np.random.default_rng(seed)
    out = []
    for ev in events:
        ev = dict(ev)
        for f in fields:
            if rng.random() < rate:
                if rng.random() < 0.5:
                    ev.pop(f, None)
                else:
                    ev[f] = None
        out.append(ev)
    return out
