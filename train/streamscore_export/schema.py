"""Declared raw inputs of a bundle, and the event -> row conversion used in training.

The serving side decodes each event into fixed slots: numbers, bools (1/0) and
timestamps (epoch milliseconds) as float64 with NaN for missing, categories as
strings with nil for missing. :meth:`Schema.frame` builds exactly that table as a
pandas DataFrame (float64 columns with NaN, object columns of ``str`` with
``np.nan`` for missing), so the sklearn pipeline is trained on what the Go
service will see.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import ExportError, RejectedEvent

NUMBER = "number"
CATEGORY = "category"
TIMESTAMP = "timestamp"
BOOL = "bool"
_TYPES = (NUMBER, CATEGORY, TIMESTAMP, BOOL)

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_MISSING = object()


@dataclass(frozen=True)
class Input:
    name: str
    type: str
    required: bool = False
    path: str | None = None

    def __post_init__(self):
        if self.type not in _TYPES:
            raise ExportError(f"input {self.name!r}: unknown type {self.type!r} (want one of {_TYPES})")
        if not self.name:
            raise ExportError("input with an empty name")

    def field_path(self) -> list[str]:
        return (self.path or self.name).split(".")


def number(name: str, *, required: bool = False, path: str | None = None) -> Input:
    return Input(name, NUMBER, required, path)


def category(name: str, *, required: bool = False, path: str | None = None) -> Input:
    return Input(name, CATEGORY, required, path)


def timestamp(name: str, *, required: bool = False, path: str | None = None) -> Input:
    return Input(name, TIMESTAMP, required, path)


def boolean(name: str, *, required: bool = False, path: str | None = None) -> Input:
    return Input(name, BOOL, required, path)


def _is_nan(v: Any) -> bool:
    """A missing value as pandas users pass it: a float NaN (math.nan, np.nan), ``pd.NA`` (nullable
    dtypes) or ``pd.NaT`` (datetimes), as ``df.to_dict("records")`` gives them."""
    return (isinstance(v, (float, np.floating)) and math.isnan(v)) or v is pd.NA or v is pd.NaT


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def parse_timestamp_ms(value: Any) -> float:
    """RFC 3339 string or epoch milliseconds -> epoch milliseconds (float).

    A ``datetime`` with a time zone (``pd.Timestamp`` too: what ``df.to_dict("records")``
    gives for a datetime column) counts as the RFC 3339 string it is written as in
    reference rows; one without a zone is ``wrong_type``, as an RFC 3339 string without
    an offset is. Sub-millisecond digits are floored, like Go's ``time.Time.UnixMilli``.
    The reasons are the stream decoder's: ``wrong_type`` for anything that is
    neither, ``not_finite`` for an infinite number.
    """
    if isinstance(value, (bool, np.bool_)):
        raise RejectedEvent("wrong_type", f"timestamp {value!r}")
    if _is_int(value) or isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise RejectedEvent("not_finite", f"timestamp {value!r}")
        return float(value)
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise RejectedEvent("wrong_type", f"timestamp {value!r} has no time zone (RFC 3339 needs an offset): "
                                              f"localize it (pandas: tz_localize('UTC'))")
        d = value - _EPOCH
        return float(d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000)
    if isinstance(value, str):
        s = value.strip()
        try:
            t = _dt.datetime.fromisoformat(s)
        except ValueError as e:
            raise RejectedEvent("wrong_type", f"timestamp {value!r}") from e
        if t.tzinfo is None or "T" not in s.upper():
            raise RejectedEvent("wrong_type", f"timestamp {value!r} is not RFC 3339 (needs date, 'T', time and offset)")
        d = t - _EPOCH
        return float(d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000)
    raise RejectedEvent("wrong_type", f"timestamp {value!r}")


class Schema:
    """The ordered raw inputs of a bundle."""

    def __init__(self, inputs: Sequence[Input]):
        names = [i.name for i in inputs]
        if len(set(names)) != len(names):
            raise ExportError(f"inputs declared twice: {sorted({n for n in names if names.count(n) > 1})}")
        self.inputs = list(inputs)
        self.by_name = {i.name: i for i in self.inputs}

    @classmethod
    def from_frame(cls, df: pd.DataFrame, required: Iterable[str] = (), types: Mapping[str, str] | None = None) -> "Schema":
        """The inputs of a training DataFrame, one per column in column order.

        Types come from the dtypes: bool -> ``boolean``, other numbers ->
        ``number``, datetimes -> ``timestamp``, strings, objects and pandas
        categoricals -> ``category``; ``types`` overrides them by column name
        (a numeric code that is really a category: ``{"zip": "category"}``).
        ``required`` names the inputs an event must carry.
        """
        required, types = set(required), dict(types or {})
        unknown = (required | set(types)) - {str(c) for c in df.columns}
        if unknown:
            raise ExportError(f"from_frame: {sorted(unknown)} are not columns of the frame")
        inputs = []
        for col in df.columns:
            name, dt = str(col), df[col].dtype
            t = types.get(name)
            if t is None:
                if pd.api.types.is_bool_dtype(dt):
                    t = BOOL
                elif pd.api.types.is_datetime64_any_dtype(dt):
                    t = TIMESTAMP
                elif pd.api.types.is_numeric_dtype(dt):
                    t = NUMBER
                else:
                    t = CATEGORY
            inputs.append(Input(name, t, name in required))
        return cls(inputs)

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def __getitem__(self, name: str) -> Input:
        return self.by_name[name]

    # -- event decoding -------------------------------------------------
    @staticmethod
    def _lookup(event: Mapping[str, Any], path: list[str]) -> Any:
        cur: Any = event
        for part in path:
            if not isinstance(cur, Mapping) or part not in cur:
                return _MISSING
            cur = cur[part]
        return cur

    def decode(self, event: Mapping[str, Any]) -> list[Any]:
        """One event -> one row (list in input order). Raises RejectedEvent.

        The rules and reasons are the stream's JSON decoder's (docs/formats.md,
        "Type rules"): absent, null or NaN is missing (``missing_field`` when
        the input is required); an integer is a category's text ("5411"); a
        wrong type is ``wrong_type``, an infinite number ``not_finite``.
        """
        row: list[Any] = []
        for inp in self.inputs:
            v = self._lookup(event, inp.field_path())
            if v is _MISSING or v is None or _is_nan(v):
                if inp.required:
                    raise RejectedEvent("missing_field", inp.name)
                row.append(np.nan)
                continue
            if inp.type == NUMBER:
                if not (_is_int(v) or isinstance(v, (float, np.floating))):
                    raise RejectedEvent("wrong_type", f"{inp.name}={v!r}")
                if not math.isfinite(v):
                    raise RejectedEvent("not_finite", f"{inp.name}={v!r}")
                row.append(float(v))
            elif inp.type == BOOL:
                if not isinstance(v, (bool, np.bool_)):
                    raise RejectedEvent("wrong_type", f"{inp.name}={v!r}")
                row.append(1.0 if v else 0.0)
            elif inp.type == TIMESTAMP:
                row.append(parse_timestamp_ms(v))
            elif _is_int(v):
                row.append(str(int(v)))
            else:
                if not isinstance(v, str):
                    raise RejectedEvent("wrong_type", f"{inp.name}={v!r}")
                row.append(v)
        return row

    def frame_from_rows(self, rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
        cols = {}
        for j, inp in enumerate(self.inputs):
            vals = [r[j] for r in rows]
            if inp.type == CATEGORY:
                # object dtype with np.nan for missing: what SimpleImputer/OneHotEncoder expect
                # (pandas 3 would otherwise infer its "str" dtype).
                cols[inp.name] = pd.Series(vals, dtype=object)
            else:
                cols[inp.name] = pd.Series(np.asarray(vals, dtype=np.float64))
        return pd.DataFrame(cols, columns=self.names)

    def frame(self, events: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
        """Events -> DataFrame in input order. Raises RejectedEvent for the first bad event."""
        return self.frame_from_rows([self.decode(e) for e in events])

    # -- manifest ---------------------------------------------------------
    def to_json(self, used: set[str] | None = None, train: pd.DataFrame | None = None) -> list[dict]:
        out = []
        for inp in self.inputs:
            if used is not None and inp.name not in used and not inp.required:
                continue
            d: dict[str, Any] = {"name": inp.name, "type": inp.type}
            if inp.required:
                d["required"] = True
            if inp.path:
                d["path"] = inp.path
            if train is not None and inp.name in train.columns:
                col = train[inp.name]
                if inp.type == NUMBER:
                    v = col.to_numpy(dtype=np.float64)
                    v = v[~np.isnan(v)]
                    if v.size:
                        d["range"] = [float(v.min()), float(v.max())]
                elif inp.type == CATEGORY:
                    d["categories"] = sorted({str(x) for x in col if isinstance(x, str)})
            out.append(d)
        return out
