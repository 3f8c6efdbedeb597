"""Fitted scikit-learn pipeline (+ linear or XGBoost model) -> bundle directory.

The exporter traces the fitted pipeline symbolically: it starts from the
declared inputs (one column each, in Schema order, as :meth:`Schema.frame`
builds them), lets every step map its input columns to its output columns in
exactly the order sklearn's ``transform`` produces them, and records for each
output column its source (input or derive) and the chain of bundle steps that
produced it. The result is the ordered ``features`` list of docs/bundle.md.

Anything without an exact bundle equivalent is refused with
:class:`UnsupportedStepError`, naming the step.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

from . import derive as _derive
from . import drift as _drift
from . import histgb_model as _hgb
from . import lightgbm_model as _lgb
from . import mlp_model
from . import sklearn_trees as _sklearn_trees
from .errors import ExportError, UnsupportedStepError
from .jsonfmt import pretty
from .policy import Output
from .schema import BOOL, CATEGORY, NUMBER, TIMESTAMP, Schema

FORMAT_VERSION = 1

SUPPORTED_TRANSFORMERS = (
    "ColumnTransformer, Pipeline, SimpleImputer, StandardScaler, MinMaxScaler, RobustScaler, "
    "OneHotEncoder, OrdinalEncoder, KBinsDiscretizer, FunctionTransformer(np.log1p), 'passthrough', "
    "streamscore_export.derive.{ratio,difference,product,date,datepart}"
)
SUPPORTED_MODELS = (
    "LogisticRegression, LinearRegression, Ridge, Lasso, ElasticNet, "
    "xgboost.XGBClassifier, xgboost.XGBRegressor, xgboost.Booster, "
    "lightgbm.LGBMClassifier, lightgbm.LGBMRegressor, lightgbm.Booster, "
    "HistGradientBoostingClassifier, HistGradientBoostingRegressor, MLPClassifier, MLPRegressor, "
    "a Keras model of Dense layers (streamscore_export.keras_pipeline), "
    + _sklearn_trees.SUPPORTED
)
XGB_OBJECTIVES = {
    "binary:logistic": ("binary",),
    "reg:logistic": ("binary", "regression"),
    "binary:logitraw": ("binary", "regression"),  # binary: sigmoid(margin); regression: the margin
    "multi:softprob": ("multiclass",),
    "multi:softmax": ("multiclass",),  # scored as multi:softprob: the probabilities, label = arg-max
    "reg:squarederror": ("regression",),
    "count:poisson": ("regression",),
}


# ---------------------------------------------------------------------------
# symbolic columns


@dataclass(frozen=True)
class Group:
    """A step that makes several columns from one value (onehot, bucketize onehot)."""

    id: int
    size: int


_group_ids = itertools.count()


@dataclass(frozen=True)
class Col:
    source: tuple  # ("input", name) or ("derive", json-string of the derive object)
    base: str  # name used for the feature entry
    kind: str  # number | category | timestamp
    steps: tuple = ()
    frame_name: str | None = None  # column name while the data is still a DataFrame
    prefix: tuple = ()  # ColumnTransformer transformer names, outermost first
    suffix: str = ""
    group: Group | None = None
    index: int = 0  # position inside the group

    def step(self, where: str, op: dict, *, kind: str | None = None, suffix: str = "", group: Group | None = None,
             index: int = 0) -> "Col":
        if self.group is not None:
            raise UnsupportedStepError(
                f"{where}: '{op['op']}' applied to a column produced by '{self.steps[-1]['op']}' "
                f"(one-hot output); the bundle format ends a chain at onehot / bucketize onehot")
        return dataclasses.replace(self, steps=self.steps + (op,), kind=kind or self.kind,
                                   suffix=self.suffix + suffix, group=group, index=index, frame_name=None)


def _name(est) -> str:
    return f"{type(est).__module__.split('.')[0]}.{type(est).__qualname__}"


def _is_nan(v) -> bool:
    return isinstance(v, (float, np.floating)) and math.isnan(v)


def _need(where: str, cols: list[Col], kinds: tuple, what: str):
    for c in cols:
        if c.kind not in kinds:
            raise UnsupportedStepError(f"{where}: {what} needs {'/'.join(kinds)} columns, "
                                       f"but {c.base!r} is a {c.kind}")


def _check_width(where: str, est, cols: list[Col]):
    n = getattr(est, "n_features_in_", None)
    if n is not None and n != len(cols):
        raise ExportError(f"{where}: fitted on {n} columns, but the traced pipeline gives it {len(cols)}")


# ---------------------------------------------------------------------------
# tracer


class Tracer:
    def __init__(self, schema: Schema):
        self.schema = schema
        self.sparse = False  # does the matrix reaching the model come out sparse?

    def initial(self) -> list[Col]:
        cols = []
        for inp in self.schema.inputs:
            kind = {NUMBER: NUMBER, BOOL: NUMBER, TIMESTAMP: TIMESTAMP, CATEGORY: CATEGORY}[inp.type]
            cols.append(Col(("input", inp.name), inp.name, kind, frame_name=inp.name))
        return cols

    # -- dispatch -----------------------------------------------------------
    def apply(self, where: str, est, cols: list[Col], top: bool) -> list[Col]:
        if est is None or (isinstance(est, str) and est == "passthrough"):
            return cols
        if isinstance(est, str):
            raise UnsupportedStepError(f"{where}: unsupported step {est!r}")
        t = type(est)
        if t is Pipeline:
            for name, sub in est.steps:
                cols = self.apply(f"{where}.{name}", sub, cols, top)
            return cols
        handler = _HANDLERS.get(t)
        if handler is None:
            raise UnsupportedStepError(
                f"step {where!r} ({_name(est)}) is not supported by the bundle format; "
                f"supported transformers: {SUPPORTED_TRANSFORMERS}")
        out = handler(self, where, est, cols)
        if top:
            if t is ColumnTransformer:
                self.sparse = bool(est.sparse_output_)
            elif t is OneHotEncoder:
                self.sparse = bool(est.sparse_output)
            elif t is KBinsDiscretizer:
                self.sparse = est.encode == "onehot"
        return out

    # -- ColumnTransformer ---------------------------------------------------
    def column_transformer(self, where: str, ct: ColumnTransformer, cols: list[Col]) -> list[Col]:
        _check_width(where, ct, cols)
        if ct.transformer_weights:
            raise UnsupportedStepError(f"{where}: ColumnTransformer transformer_weights are not supported")
        out: list[Col] = []
        for tname, trans, spec in ct.transformers_:
            idx = self._select(f"{where}.{tname}", spec, cols)
            if isinstance(trans, str) and trans == "drop":
                continue
            if not idx:
                continue
            sub = [dataclasses.replace(c, prefix=c.prefix + (tname,)) for c in (cols[i] for i in idx)]
            if tname == "remainder" and type(trans) is FunctionTransformer and trans.func is None:
                res = sub  # remainder="passthrough"
            else:
                res = self.apply(f"{where}.{tname}", trans, sub, top=False)
            out.extend(dataclasses.replace(c, frame_name=None) for c in res)
        return out

    def _select(self, where: str, spec, cols: list[Col]) -> list[int]:
        if callable(spec):
            raise UnsupportedStepError(f"{where}: callable column selectors are not supported; list the columns")
        if isinstance(spec, slice):
            return list(range(len(cols)))[spec]
        if isinstance(spec, (str, int, np.integer)):
            spec = [spec]
        spec = list(spec)
        if spec and all(isinstance(s, (bool, np.bool_)) for s in spec):
            return [i for i, s in enumerate(spec) if s]
        idx = []
        names = {c.frame_name: i for i, c in enumerate(cols) if c.frame_name is not None}
        for s in spec:
            if isinstance(s, (int, np.integer)):
                idx.append(int(s))
            elif isinstance(s, str):
                if s not in names:
                    raise ExportError(f"{where}: column {s!r} is not an input of the traced pipeline")
                idx.append(names[s])
            else:
                raise UnsupportedStepError(f"{where}: column selector {s!r} not supported")
        return idx

    # -- derive helpers -------------------------------------------------------
    def _frame_col(self, where: str, cols: list[Col], name: str, types: tuple) -> Col:
        for c in cols:
            if c.frame_name == name:
                if c.steps or c.source[0] != "input" or self.schema[c.source[1]].type not in types:
                    raise UnsupportedStepError(
                        f"{where}: {name!r} must be a raw input of type {'/'.join(types)}")
                return c
        raise ExportError(f"{where}: column {name!r} not found (derive helpers go before the ColumnTransformer)")

    def derive2(self, where: str, est, cols: list[Col]) -> list[Col]:
        _check_width(where, est, cols)
        self._frame_col(where, cols, est.a, (NUMBER,))
        self._frame_col(where, cols, est.b, (NUMBER,))
        op = {_derive.Ratio: "ratio", _derive.Difference: "difference", _derive.Product: "product"}[type(est)]
        d: dict[str, Any] = {"op": op, "a": est.a, "b": est.b}
        if op == "ratio":
            v = est._on_zero_value()
            d["on_zero"] = "nan" if math.isnan(v) else v
        name = est._out_name()
        return cols + [Col(("derive", json.dumps(d)), name, NUMBER, frame_name=name)]

    def derive_date(self, where: str, est, cols: list[Col]) -> list[Col]:
        _check_width(where, est, cols)
        self._frame_col(where, cols, est.a, (NUMBER,))
        self._frame_col(where, cols, est.b, (NUMBER,))
        d = {"op": "date", "a": est.a, "b": est.b, "year": int(est.year)}
        name = est._out_name()
        return cols + [Col(("derive", json.dumps(d)), name, TIMESTAMP, frame_name=name)]

    def datepart(self, where: str, est, cols: list[Col]) -> list[Col]:
        _check_width(where, est, cols)
        if est.part not in _derive.DATEPARTS:
            raise UnsupportedStepError(f"{where}: datepart part {est.part!r} (want one of {_derive.DATEPARTS})")
        derived = [c for c in cols if c.frame_name == est.input and c.source[0] == "derive" and c.kind == TIMESTAMP]
        src = derived[0] if derived and not derived[0].steps else self._frame_col(where, cols, est.input, (TIMESTAMP,))
        name = est._out_name()
        new = dataclasses.replace(src.step(where, {"op": "datepart", "part": est.part, "tz": est.tz}, kind=NUMBER),
                                  base=name, frame_name=name)
        return cols + [new]

    # -- element-wise transformers ----------------------------------------------
    def simple_imputer(self, where: str, imp: SimpleImputer, cols: list[Col]) -> list[Col]:
        _check_width(where, imp, cols)
        if not _is_nan(imp.missing_values):
            raise UnsupportedStepError(
                f"{where}: SimpleImputer(missing_values={imp.missing_values!r}); only NaN/None (missing) is supported")
        out = []
        for c, stat in zip(cols, imp.statistics_):
            if _is_nan(stat):
                if imp.keep_empty_features:
                    raise ExportError(f"{where}: NaN statistic for {c.base!r}")
                continue  # sklearn drops all-missing columns
            if c.kind == CATEGORY:
                if not isinstance(stat, str):
                    raise UnsupportedStepError(f"{where}: category imputation value {stat!r} is not a string")
                value: Any = str(stat)
            else:
                value = float(stat)
            out.append(c.step(where, {"op": "impute", "value": value, "strategy": imp.strategy}))
        if imp.add_indicator:
            for j in imp.indicator_.features_:
                out.append(cols[j].step(where, {"op": "indicator"}, kind=NUMBER, suffix="_missing"))
        return out

    @staticmethod
    def _scale(where: str, sc, cols: list[Col], op) -> list[Col]:
        """A fitted scaler's per-column steps: op(i) is column i's step."""
        _check_width(where, sc, cols)
        _need(where, cols, (NUMBER, TIMESTAMP), type(sc).__name__)
        return [c.step(where, op(i), kind=NUMBER) for i, c in enumerate(cols)]

    def standard(self, where: str, sc: StandardScaler, cols: list[Col]) -> list[Col]:
        return self._scale(where, sc, cols, lambda i: {
            "op": "standard",
            "mean": float(sc.mean_[i]) if sc.with_mean else 0.0,
            "scale": float(sc.scale_[i]) if sc.with_std else 1.0})

    def robust(self, where: str, sc: RobustScaler, cols: list[Col]) -> list[Col]:
        return self._scale(where, sc, cols, lambda i: {
            "op": "robust",
            "center": float(sc.center_[i]) if sc.with_centering else 0.0,
            "scale": float(sc.scale_[i]) if sc.with_scaling else 1.0})

    def minmax(self, where: str, sc: MinMaxScaler, cols: list[Col]) -> list[Col]:
        fr = [float(sc.feature_range[0]), float(sc.feature_range[1])]

        def op(i: int) -> dict[str, Any]:
            o: dict[str, Any] = {"op": "minmax", "scale": float(sc.scale_[i]), "offset": float(sc.min_[i]),
                                 "data_min": float(sc.data_min_[i]), "data_max": float(sc.data_max_[i])}
            if sc.clip:
                o["out_of_range"] = "clip"
            o["feature_range"] = fr  # the clip range; the default derived from data_min/max may be 1 ulp off
            return o
        return self._scale(where, sc, cols, op)

    def function(self, where: str, ft: FunctionTransformer, cols: list[Col]) -> list[Col]:
        if ft.func is None:
            return cols
        if ft.func is not np.log1p:
            fname = getattr(ft.func, "__name__", repr(ft.func))
            raise UnsupportedStepError(
                f"step {where!r} (sklearn.FunctionTransformer(func={fname})) is not supported; "
                f"only FunctionTransformer(np.log1p) has a bundle equivalent")
        if ft.kw_args:
            raise UnsupportedStepError(f"{where}: FunctionTransformer(np.log1p) with kw_args is not supported")
        _need(where, cols, (NUMBER, TIMESTAMP), "log1p")
        return [c.step(where, {"op": "log1p"}, kind=NUMBER) for c in cols]

    @staticmethod
    def _str_categories(where: str, c: Col, cats) -> list[str]:
        cats = list(cats)
        if any(_is_nan(x) or x is None for x in cats):
            raise UnsupportedStepError(
                f"{where}: missing values were seen as a category of {c.base!r} during fit; impute them first "
                f"(e.g. SimpleImputer(strategy='constant', fill_value='missing')) so the bundle can express it")
        if not all(isinstance(x, str) for x in cats):
            raise UnsupportedStepError(
                f"{where}: categories of {c.base!r} must be strings, got {cats[:5]!r}: the service reads a category "
                f"as text (an integer 5411 as '5411'); train on schema.frame(events), which decodes the column as "
                f"the service does")
        return [str(x) for x in cats]

    def onehot(self, where: str, enc: OneHotEncoder, cols: list[Col]) -> list[Col]:
        _check_width(where, enc, cols)
        _need(where, cols, (CATEGORY,), "OneHotEncoder")
        infreq_all = getattr(enc, "infrequent_categories_", None) or [None] * len(cols)
        drop_idx = enc.drop_idx_
        out = []
        for i, c in enumerate(cols):
            cats = self._str_categories(where, c, enc.categories_[i])
            infreq = infreq_all[i]
            drop = None if drop_idx is None or drop_idx[i] is None else int(drop_idx[i])
            hu = enc.handle_unknown
            if infreq is not None:
                if hu not in ("infrequent_if_exist", "warn"):
                    raise UnsupportedStepError(
                        f"{where}: OneHotEncoder with infrequent categories needs handle_unknown="
                        f"'infrequent_if_exist' (unknown and infrequent share one column), got {hu!r}")
                if drop is not None:
                    raise UnsupportedStepError(f"{where}: OneHotEncoder with both infrequent categories and drop")
                infreq_set = set(str(x) for x in infreq)
                cats_out = [x for x in cats if x not in infreq_set]
                unknown = "column"
            else:
                cats_out = cats
                unknown = {"error": "reject", "ignore": "zeros", "infrequent_if_exist": "zeros", "warn": "zeros"}[hu]
            op: dict[str, Any] = {"op": "onehot", "categories": cats_out, "unknown": unknown}
            if drop is not None:
                op["drop"] = cats[drop]
            size = len(cats_out) - (drop is not None) + (unknown == "column")
            if size == 0:
                continue
            g = Group(next(_group_ids), size)
            out.extend(c.step(where, op, kind=NUMBER, group=g, index=k) for k in range(size))
        return out

    def ordinal(self, where: str, enc: OrdinalEncoder, cols: list[Col]) -> list[Col]:
        _check_width(where, enc, cols)
        _need(where, cols, (CATEGORY,), "OrdinalEncoder")
        if getattr(enc, "infrequent_categories_", None) and any(x is not None for x in enc.infrequent_categories_):
            raise UnsupportedStepError(f"{where}: OrdinalEncoder with infrequent categories is not supported")
        if np.dtype(enc.dtype) != np.float64:
            raise UnsupportedStepError(f"{where}: OrdinalEncoder(dtype={enc.dtype}) ; only float64 is supported")
        out = []
        for i, c in enumerate(cols):
            cats = self._str_categories(where, c, enc.categories_[i])
            op: dict[str, Any] = {"op": "ordinal", "categories": cats}
            if enc.handle_unknown == "error":
                op["unknown"] = "reject"
            else:
                uv = enc.unknown_value
                op["unknown"] = "value"
                op["unknown_value"] = None if uv is None or _is_nan(uv) else float(uv)  # null = missing
            out.append(c.step(where, op, kind=NUMBER))
        return out

    def kbins(self, where: str, kb: KBinsDiscretizer, cols: list[Col]) -> list[Col]:
        _check_width(where, kb, cols)
        _need(where, cols, (NUMBER, TIMESTAMP), "KBinsDiscretizer")
        if kb.dtype not in (None, np.float64) and np.dtype(kb.dtype) != np.float64:
            raise UnsupportedStepError(f"{where}: KBinsDiscretizer(dtype={kb.dtype}); only float64 is supported")
        out = []
        for i, c in enumerate(cols):
            edges = [float(e) for e in kb.bin_edges_[i][1:-1]]
            if kb.encode == "ordinal":
                out.append(c.step(where, {"op": "bucketize", "edges": edges, "encode": "ordinal"}, kind=NUMBER))
            else:
                size = len(edges) + 1
                g = Group(next(_group_ids), size)
                op = {"op": "bucketize", "edges": edges, "encode": "onehot"}
                out.extend(c.step(where, op, kind=NUMBER, group=g, index=k) for k in range(size))
        return out


_HANDLERS = {
    ColumnTransformer: Tracer.column_transformer,
    SimpleImputer: Tracer.simple_imputer,
    StandardScaler: Tracer.standard,
    RobustScaler: Tracer.robust,
    MinMaxScaler: Tracer.minmax,
    FunctionTransformer: Tracer.function,
    OneHotEncoder: Tracer.onehot,
    OrdinalEncoder: Tracer.ordinal,
    KBinsDiscretizer: Tracer.kbins,
    _derive.Ratio: Tracer.derive2,
    _derive.Difference: Tracer.derive2,
    _derive.Product: Tracer.derive2,
    _derive.DatePart: Tracer.datepart,
    _derive.Date: Tracer.derive_date,
    _lgb.Categorical: _lgb.trace_categorical,
}


# ---------------------------------------------------------------------------
# columns -> features


def split_pipeline(model) -> tuple[list[tuple[str, Any]], str, Any]:
    """(transformer steps, estimator step name, estimator)."""
    if type(model) is Pipeline:
        steps = list(model.steps)
        name, est = steps[-1]
        if est is None or est == "passthrough":
            raise UnsupportedStepError("the Pipeline has no final estimator")
        return steps[:-1], name, est
    return [], "model", model


def trace(model, schema: Schema) -> tuple[list[dict], int, bool]:
    """Fitted pipeline -> (features entries, number of model columns, sparse output?)."""
    steps, _, est = split_pipeline(model)
    first = steps[0][1] if steps else est
    fin = getattr(first, "feature_names_in_", None)
    if fin is not None and list(fin) != schema.names:
        raise ExportError(f"the pipeline was fitted on columns {list(fin)}, but the schema declares {schema.names}; "
                          f"train on Schema.frame(events)")
    tr = Tracer(schema)
    cols = tr.initial()
    for name, step in steps:
        cols = tr.apply(name, step, cols, top=True)
    return columns_to_features(cols), len(cols), tr.sparse


def columns_to_features(cols: list[Col]) -> list[dict]:
    entries: list[tuple[Col, list[Col]]] = []
    i = 0
    while i < len(cols):
        c = cols[i]
        if c.kind == CATEGORY:
            raise UnsupportedStepError(
                f"column {c.base!r} reaches the model as a category; encode it (OneHotEncoder / OrdinalEncoder)")
        if c.group is None:
            entries.append((c, [c]))
            i += 1
            continue
        run = cols[i:i + c.group.size]
        if len(run) != c.group.size or any(r.group != c.group or r.index != k for k, r in enumerate(run)):
            raise UnsupportedStepError(
                f"the one-hot columns of {c.base!r} do not reach the model together and in order")
        entries.append((c, run))
        i += c.group.size
    seen_groups = [c.group.id for c, _ in entries if c.group is not None]
    if len(seen_groups) != len(set(seen_groups)):
        raise UnsupportedStepError("a one-hot output is used twice")

    names = [c.base + c.suffix for c, _ in entries]
    counts = {n: names.count(n) for n in names}
    final, used = [], set()
    for (c, _), n in zip(entries, names):
        if counts[n] > 1:
            n = "__".join(c.prefix + (n,))
        base, k = n, 2
        while n in used:
            n = f"{base}_{k}"
            k += 1
        used.add(n)
        final.append(n)

    feats = []
    for (c, _), n in zip(entries, final):
        e: dict[str, Any] = {"name": n}
        if c.source[0] == "input":
            e["input"] = c.source[1]
        else:
            e["derive"] = json.loads(c.source[1])
        e["steps"] = list(c.steps)
        feats.append(e)
    cols = [n for f in feats for n in column_names(f)]
    dup = sorted({n for n in cols if cols.count(n) > 1})
    if dup:
        raise ExportError(f"model column names are not unique: {dup}; rename a derived feature")
    return feats


def column_names(feature: dict) -> list[str]:
    """Model column names of one features entry, as docs/bundle.md names them."""
    name, steps = feature["name"], feature["steps"]
    last = steps[-1] if steps else {"op": ""}
    if last["op"] == "onehot":
        cols = [f"{name}_{c}" for c in last["categories"] if c != last.get("drop")]
        if last["unknown"] == "column":
            cols.append(f"{name}__unknown")
        return cols
    if last["op"] == "bucketize" and last["encode"] == "onehot":
        return [f"{name}_{b}" for b in range(len(last["edges"]) + 1)]
    return [name]


def feature_width(feature: dict) -> int:
    """Number of model columns one features entry produces."""
    steps = feature["steps"]
    if not steps:
        return 1
    last = steps[-1]
    if last["op"] == "onehot":
        return len(last["categories"]) - ("drop" in last) + (last["unknown"] == "column")
    if last["op"] == "bucketize" and last["encode"] == "onehot":
        return len(last["edges"]) + 1
    return 1


def used_inputs(features: list[dict]) -> set[str]:
    used = set()
    for f in features:
        if "input" in f:
            used.add(f["input"])
        else:
            used.update((f["derive"]["a"], f["derive"]["b"]))
    return used


# ---------------------------------------------------------------------------
# models


def _linear(where: str, est, n_cols: int, output: Output) -> dict:
    t = type(est)
    if t is LogisticRegression:
        coef = np.asarray(est.coef_, dtype=np.float64)
        icpt = np.asarray(est.intercept_, dtype=np.float64).reshape(-1)
        k = len(est.classes_)
        if k == 2:
            link, task = "logistic", "binary"
        else:
            link, task = "softmax", "multiclass"
            if coef.shape[0] != k:
                raise UnsupportedStepError(f"{where}: LogisticRegression coef_ has {coef.shape[0]} rows for {k} classes")
        if output.task != task or output.n_outputs != k:
            raise ExportError(f"{where}: LogisticRegression with {k} classes needs output task {task!r} "
                              f"with {k} classes (in the order of classes_={list(est.classes_)})")
    else:
        coef = np.asarray(est.coef_, dtype=np.float64)
        if coef.ndim == 2 and coef.shape[0] != 1:
            raise UnsupportedStepError(f"{where}: multi-output {t.__name__} is not supported")
        coef = coef.reshape(1, -1)
        icpt = np.asarray(est.intercept_, dtype=np.float64).reshape(-1)
        link = "identity"
        if output.task != "regression":
            raise ExportError(f"{where}: {t.__name__} needs output task 'regression'")
    if coef.shape[1] != n_cols:
        raise ExportError(f"{where}: model has {coef.shape[1]} coefficients, the pipeline gives {n_cols} columns")
    return {"kind": "linear", "link": link, "coef": coef.tolist(), "intercept": icpt.tolist()}


def _xgboost(where: str, est, n_cols: int, output: Output, out_dir: Path | None, model_file: str,
             columns: list[str] | None = None) -> dict:
    import xgboost as xgb

    # With early stopping the model keeps all trees and records learner.attributes.best_iteration;
    # the sklearn wrapper predicts with trees 0..best_iteration and so does the Go side (docs/bundle.md).
    booster = est if isinstance(est, xgb.Booster) else est.get_booster()
    cfg = json.loads(booster.save_config())
    learner = cfg["learner"]
    gb = learner["gradient_booster"]["name"]
    if gb != "gbtree":
        raise UnsupportedStepError(f"{where}: XGBoost booster {gb!r}; only 'gbtree' is supported")
    if learner.get("learner_train_param", {}).get("multi_strategy", "one_output_per_tree") != "one_output_per_tree":
        raise UnsupportedStepError(f"{where}: XGBoost multi_strategy={learner['learner_train_param']['multi_strategy']!r}"
                                   f" is not supported")
    obj = learner["objective"]["name"]
    if obj not in XGB_OBJECTIVES:
        raise UnsupportedStepError(f"{where}: XGBoost objective {obj!r} is not supported; "
                                   f"supported: {sorted(XGB_OBJECTIVES)}")
    if output.task not in XGB_OBJECTIVES[obj]:
        raise ExportError(f"{where}: XGBoost objective {obj!r} goes with output task {XGB_OBJECTIVES[obj]}, "
                          f"not {output.task!r}")
    if obj in ("multi:softprob", "multi:softmax"):
        k = int(learner["learner_model_param"]["num_class"])
        if k != output.n_outputs:
            raise ExportError(f"{where}: model has {k} classes, output declares {output.n_outputs}")
    ft = booster.feature_types
    if ft and any(t == "c" for t in ft):
        raise UnsupportedStepError(f"{where}: XGBoost categorical features (enable_categorical) are not supported")
    if booster.num_features() != n_cols:
        raise ExportError(f"{where}: XGBoost model has {booster.num_features()} features, "
                          f"the pipeline gives {n_cols} columns")
    names = booster.feature_names
    if names and columns is not None and list(names) != list(columns):
        # XGBoost matches columns by position: a Booster whose names are in
        # another order than the bundle's columns would score every row wrong.
        bad = next(i for i, (a, b) in enumerate(zip(names, columns)) if a != b) if len(names) == len(columns) else 0
        raise ExportError(f"{where}: the XGBoost model's feature_names are not the bundle's columns in order "
                          f"(column {bad}: the model has {names[bad]!r}, the pipeline gives "
                          f"{columns[bad] if bad < len(columns) else None!r}); train on the columns in the "
                          f"schema's order, or reorder the model's inputs")
    if out_dir is not None:
        booster.save_model(os.fspath(out_dir / model_file))
    return {"kind": "xgboost", "file": model_file}


def check_class_names(where: str, est, output: Output) -> None:
    """Refuse output classes that name the model's classes_ in another order.

    The bundle labels the model's outputs by position (output ``classes[k]`` is
    ``predict_proba[:, k]``). Renaming them (``[0, 1]`` -> ``["Low Risk", "High
    Risk"]``) is fine; a declared name that is one of ``classes_`` at another
    position would label every probability with the wrong class, and the
    reference rows (scored by the same pipeline) could not catch it.
    """
    classes = getattr(est, "classes_", None)
    if classes is None or output.classes is None:
        return
    names = [str(c) for c in np.asarray(classes).tolist()]
    for k, c in enumerate(output.classes):
        if c in names and (k >= len(names) or names[k] != c):
            raise ExportError(f"{where}: output class {c!r} is output {k}, but it is class {names.index(c)} of the "
                              f"model (classes_={names}): the bundle labels predict_proba's columns in the order of "
                              f"classes_; declare the classes in that order ({names}) or rename every one of them")


def export_model(where: str, est, n_cols: int, output: Output, out_dir: Path | None,
                 model_file: str = "model.json", sparse: bool = False, columns: list[str] | None = None,
                 features=None, steps=()) -> dict:
    check_class_names(where, est, output)
    t = type(est)
    if t in (LogisticRegression, LinearRegression, Ridge, Lasso, ElasticNet):
        return _linear(where, est, n_cols, output)
    if mlp_model.is_mlp(est):
        return mlp_model.export(where, est, n_cols, output, out_dir, model_file)
    if _lgb.is_lightgbm(est):
        return _lgb.export(where, est, n_cols, output, out_dir, steps=steps, features=features)
    if _hgb.is_histgb(est):
        return _hgb.export(where, est, n_cols, output, out_dir, features=features)
    if _sklearn_trees.handles(est):
        return _sklearn_trees.export(where, est, n_cols, output, out_dir, model_file, sparse)
    try:
        import xgboost as xgb
        xgb_types = (xgb.XGBClassifier, xgb.XGBRegressor, xgb.Booster)
    except ImportError:  # pragma: no cover
        xgb_types = ()
    if t in xgb_types:
        if sparse:
            raise UnsupportedStepError(
                f"{where}: the pipeline hands XGBoost a sparse matrix, where XGBoost reads absent entries as "
                f"missing, not 0; make it dense (OneHotEncoder(sparse_output=False), "
                f"ColumnTransformer(sparse_threshold=0))")
        missing = getattr(est, "missing", np.nan)  # the sklearn wrappers' DMatrix `missing`; a Booster has none
        if missing is not None and not _is_nan(missing):
            raise UnsupportedStepError(
                f"{where}: XGBoost missing={missing!r}: XGBoost reads that value as missing, the bundle reads only "
                f"NaN (absent or null inputs) as missing, so rows with {missing!r} would take another branch; "
                f"train with missing=np.nan")
        return _xgboost(where, est, n_cols, output, out_dir, model_file, columns)
    raise UnsupportedStepError(f"step {where!r} ({_name(est)}) is not a supported model; supported: {SUPPORTED_MODELS}")


# ---------------------------------------------------------------------------


def build_manifest(model, *, name: str, schema: Schema, output: Output, version: str = "1.0.0",
                   description: str = "", train_frame=None, out_dir: Path | None = None) -> dict:
    features, n_cols, sparse = trace(model, schema)
    steps, est_name, est = split_pipeline(model)
    assert sum(feature_width(f) for f in features) == n_cols
    columns = [c for f in features for c in column_names(f)]
    m = export_model(est_name, est, n_cols, output, out_dir, sparse=sparse, columns=columns, features=features, steps=steps)
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "version": version,
        "description": description,
        "inputs": schema.to_json(used_inputs(features), train_frame),
        "features": features,
        "model": m,
        "output": output.to_json(),
        **_drift.section(model, schema, output, train_frame, used_inputs(features)),  # training distributions
    }


def export_bundle(model, out_dir, *, name: str, schema: Schema, output: Output, version: str = "1.0.0",
                  description: str = "", train_frame=None) -> dict:
    """Write ``bundle.json`` (and ``model.json`` for XGBoost) into ``out_dir``; return the manifest.

    ``model`` is a fitted sklearn Pipeline (or a bare estimator) trained on
    ``schema.frame(events)``. ``train_frame`` (optional) fills the informational
    ``range`` / ``categories`` of the inputs.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = build_manifest(model, name=name, schema=schema, output=output, version=version,
                              description=description, train_frame=train_frame, out_dir=out)
    for stale in ("model.json", _lgb.MODEL_FILE, _hgb.MODEL_FILE):  # another kind's model file
        if stale != manifest["model"].get("file") and (out / stale).exists():
            (out / stale).unlink()
    (out / "bundle.json").write_text(pretty(manifest))
    return manifest
