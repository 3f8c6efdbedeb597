"""JSON writing: full float64 precision (repr), no NaN/Infinity, readable layout."""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd


def plain(v: Any) -> Any:
    """numpy scalars/arrays -> Python; NaN -> None (JSON null)."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) else f
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, _dt.datetime) and v.tzinfo is not None:  # an event's timestamp: RFC 3339 text
        return v.isoformat()
    return v


def compact(v: Any) -> str:
    return json.dumps(plain(v), allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def pretty(v: Any, width: int = 110, indent: int = 2) -> str:
    """Like json.dumps(indent=2), but containers that fit in ``width`` stay on one line."""

    def go(x: Any, level: int) -> str:
        one = json.dumps(x, allow_nan=False, ensure_ascii=False, separators=(", ", ": "))
        if len(one) + level * indent <= width or not isinstance(x, (dict, list)) or not x:
            return one
        pad = " " * ((level + 1) * indent)
        end = " " * (level * indent)
        if isinstance(x, dict):
            items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {go(val, level + 1)}" for k, val in x.items()]
            return "{\n" + ",\n".join(items) + "\n" + end + "}"
        if all(not isinstance(e, (dict, list)) for e in x):
            # long list of scalars: wrap, several per line
            lines, cur = [], ""
            for e in x:
                s = json.dumps(e, allow_nan=False)
                if cur and len(pad) + len(cur) + len(s) + 2 > width:
                    lines.append(cur.rstrip())
                    cur = ""
                cur += s + ", "
            lines.append(cur.rstrip().rstrip(","))
            return "[\n" + ",\n".join(pad + ln if not ln.endswith(",") else pad + ln[:-1] for ln in lines) + "\n" + end + "]"
        items = [pad + go(e, level + 1) for e in x]
        return "[\n" + ",\n".join(items) + "\n" + end + "]"

    return go(plain(v), 0) + "\n"
