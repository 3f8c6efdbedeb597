"""Derived features that train in sklearn and export to the bundle.

Each helper is a small sklearn transformer that takes the raw-input DataFrame
(see :meth:`streamscore_export.Schema.frame`) and returns it with one column
appended. Put them first in the Pipeline, before the ColumnTransformer that
selects columns by name::

    Pipeline([
        ("amount_ratio", derive.ratio("amount", "avg_amount_30d", name="amount_ratio")),
        ("hour", derive.datepart("timestamp", "hour", name="hour")),
        ("prep", ColumnTransformer([...])),
        ("model", XGBClassifier(...)),
    ])

The exporter turns them into bundle entries: ``ratio`` / ``difference`` /
``product`` into a ``derive`` source, ``datepart`` into a ``datepart`` step on the
timestamp input. The numbers computed here are the definition the Go side
implements:

* ratio(a, b): missing if a or b is missing; else ``on_zero`` if b == 0
  (``"nan"`` = missing); else a / b (float64).
* difference(a, b) = a - b, product(a, b) = a * b; missing if either is missing.
* date(month, day, year): the date of that month (1-12) and day in the fixed ``year``, as a
  timestamp (epoch ms at 00:00 UTC); missing if either is missing, not a whole number, or not a
  date of that year (February 30). Follow it with ``datepart(name, "dayofyear" | "weekday")``.
* datepart(ts, part, tz): ts is epoch milliseconds (floored to whole ms); the
  part of that instant in zone ``tz``: hour 0-23, minute 0-59, weekday
  Monday=0..Sunday=6, month 1-12, dayofyear 1-366; missing ts, or one outside years 1-9999 UTC,
  -> missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import ExportError

DATEPARTS = ("hour", "minute", "weekday", "month", "dayofyear")


class _AppendColumn(TransformerMixin, BaseEstimator):
    def _sources(self) -> list[str]:
        raise NotImplementedError

    def _out_name(self) -> str:
        raise NotImplementedError

    def _compute(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def fit(self, X, y=None):
        if not isinstance(X, pd.DataFrame):
            raise ExportError(f"{type(self).__name__} needs a pandas DataFrame (Schema.frame), got {type(X).__name__}")
        for c in self._sources():
            if c not in X.columns:
                raise ExportError(f"{type(self).__name__}: column {c!r} not in the input frame")
        if self._out_name() in X.columns:
            raise ExportError(f"{type(self).__name__}: output column {self._out_name()!r} already exists")
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(X.columns)
        return self

    def transform(self, X):
        if not isinstance(X, pd.DataFrame):
            raise ExportError(f"{type(self).__name__} needs a pandas DataFrame, got {type(X).__name__}")
        out = X.copy()
        out[self._out_name()] = self._compute(X)
        return out

    def get_feature_names_out(self, input_features=None):
        names = list(self.feature_names_in_ if input_features is None else input_features)
        return np.asarray(names + [self._out_name()], dtype=object)


def _num(X: pd.DataFrame, name: str) -> np.ndarray:
    return X[name].to_numpy(dtype=np.float64)


class _TwoColumns(_AppendColumn):
    """A column computed from the number columns a and b: _op(a, b) (missing
    if either is missing) unless a subclass computes it otherwise."""

    _word = ""  # the default output name is a_<word>_b

    def __init__(self, a: str, b: str, name: str | None = None):
        self.a = a
        self.b = b
        self.name = name

    def _sources(self):
        return [self.a, self.b]

    def _out_name(self):
        return self.name or f"{self.a}_{self._word}_{self.b}"

    @staticmethod
    def _op(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _compute(self, X):
        with np.errstate(over="ignore", invalid="ignore"):
            return self._op(_num(X, self.a), _num(X, self.b))


class Difference(_TwoColumns):
    _word = "minus"
    _op = staticmethod(np.subtract)


class Product(_TwoColumns):
    _word = "times"
    _op = staticmethod(np.multiply)


class Ratio(_TwoColumns):
    _word = "over"

    def __init__(self, a: str, b: str, name: str | None = None, on_zero="nan"):
        super().__init__(a, b, name)
        self.on_zero = on_zero

    def _on_zero_value(self) -> float:
        if isinstance(self.on_zero, str):
            if self.on_zero != "nan":
                raise ExportError(f"ratio on_zero must be 'nan' or a number, got {self.on_zero!r}")
            return np.nan
        v = float(self.on_zero)
        if not np.isfinite(v):
            raise ExportError(f"ratio on_zero must be 'nan' or a finite number, got {self.on_zero!r}")
        return v

    def _compute(self, X):
        a, b = _num(X, self.a), _num(X, self.b)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = a / b
        r = np.where(b == 0, self._on_zero_value(), r)
        return np.where(np.isnan(a) | np.isnan(b), np.nan, r)


class DatePart(_AppendColumn):
    def __init__(self, input: str, part: str = "hour", tz: str = "UTC", name: str | None = None):
        self.input = input
        self.part = part
        self.tz = tz
        self.name = name

    def _sources(self):
        return [self.input]

    def _out_name(self):
        return self.name or f"{self.input}_{self.part}"

    def _compute(self, X):
        if self.part not in DATEPARTS:
            raise ExportError(f"datepart part must be one of {DATEPARTS}, got {self.part!r}")
        return dateparts(_num(X, self.input), self.part, self.tz)


# The instants datepart reads: years 1 to 9999 UTC (what RFC 3339 can write); outside them a part is
# missing, in the Go pipeline too (features/zone.go).
DATEPART_MIN_MS = -62135596800000  # 0001-01-01T00:00:00Z
DATEPART_MAX_MS = 253402300800000  # 10000-01-01T00:00:00Z, excluded
_DAY_MS = 86_400_000
_CUM_DAYS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])


def dateparts(ms: np.ndarray, part: str, tz: str = "UTC") -> np.ndarray:
    """The part of epoch-ms times in zone ``tz``, as the Go pipeline computes it (floored to whole ms).

    The zone's UTC offset comes from pandas; the calendar from integer arithmetic on the local time,
    so the first and last day of the range, whose local year may be 0 or 10000, need no datetime of
    that year (the offset is taken a day inside the range there: both ends are far from any zone
    transition). Missing, or outside years 1-9999 UTC: NaN.
    """
    ms = np.asarray(ms, dtype=np.float64)
    out = np.full(ms.shape, np.nan)
    with np.errstate(invalid="ignore"):
        ok = (ms >= DATEPART_MIN_MS) & (ms < DATEPART_MAX_MS)
    if not ok.any():
        return out
    t = np.floor(ms[ok]).astype(np.int64)
    sec = t // 1000
    if tz != "UTC":
        at = np.clip(t, DATEPART_MIN_MS + _DAY_MS, DATEPART_MAX_MS - _DAY_MS - 1)
        utc = pd.to_datetime(at, unit="ms")
        local = pd.DatetimeIndex(utc.tz_localize("UTC").tz_convert(tz).tz_localize(None))
        sec = sec + ((local - utc) // pd.Timedelta(seconds=1)).to_numpy(dtype=np.int64)
    days = sec // 86400
    sod = sec - days * 86400
    if part == "hour":
        v = sod // 3600
    elif part == "minute":
        v = sod % 3600 // 60
    elif part == "weekday":
        v = (days + 3) % 7  # 1970-01-01 was a Thursday (3 with Monday=0)
    else:  # civil date from days since 1970-01-01 (H. Hinnant's days_from_civil, inverted)
        z = days + 719468
        era = z // 146097
        doe = z - era * 146097
        yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        d = doy - (153 * mp + 2) // 5 + 1
        m = np.where(mp < 10, mp + 3, mp - 9)
        y = yoe + era * 400 + (m <= 2)
        if part == "month":
            v = m
        else:
            leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
            v = _CUM_DAYS[m - 1] + d + (leap & (m > 2))
    out[ok] = v.astype(np.float64)
    return out


def date_millis(year: int, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """00:00 UTC of year-month-day in epoch ms; NaN where month/day is no date of that year."""
    month = np.asarray(month, dtype=np.float64)
    day = np.asarray(day, dtype=np.float64)
    out = np.full(month.shape, np.nan)
    with np.errstate(invalid="ignore"):
        ok = (month == np.trunc(month)) & (day == np.trunc(day)) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    for i in np.flatnonzero(ok):
        try:
            d = pd.Timestamp(year=int(year), month=int(month[i]), day=int(day[i]), tz="UTC")
        except ValueError:
            continue
        out[i] = float(d.value // 1_000_000)
    return out


class Date(_TwoColumns):
    def __init__(self, a: str, b: str, year: int, name: str | None = None):
        super().__init__(a, b, name)
        self.year = year

    def _out_name(self):
        return self.name or f"{self.a}_{self.b}_date"

    def _compute(self, X):
        if not (isinstance(self.year, (int, np.integer)) and 1 <= self.year <= 9999):
            raise ExportError(f"date year must be an integer in [1, 9999], got {self.year!r}")
        return date_millis(self.year, _num(X, self.a), _num(X, self.b))


def date(month: str, day: str, year: int, name: str | None = None) -> Date:
    """The date of number inputs ``month`` and ``day`` in ``year``, as a timestamp column."""
    return Date(month, day, year, name=name)


def ratio(a: str, b: str, name: str | None = None, on_zero="nan") -> Ratio:
    """a / b as a new column (see module doc for missing and zero handling)."""
    return Ratio(a, b, name=name, on_zero=on_zero)


def difference(a: str, b: str, name: str | None = None) -> Difference:
    return Difference(a, b, name=name)


def product(a: str, b: str, name: str | None = None) -> Product:
    return Product(a, b, name=name)


def datepart(input: str, part: str = "hour", tz: str = "UTC", name: str | None = None) -> DatePart:
    """The ``part`` of timestamp input ``input`` in zone ``tz`` as a new column."""
    return DatePart(input, part=part, tz=tz, name=name)
