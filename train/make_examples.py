#!/usr/bin/env python3
"""Train the example models and write the example bundles under examples/<name>/.

    python train/make_examples.py                 # all examples
    python train/make_examples.py fraud iris      # some
    python train/make_examples.py --out /tmp/ex   # elsewhere

Every example writes bundle.json (+ model.json for XGBoost and mlp, model.txt for LightGBM, histgb.json
for HistGradientBoosting), reference.jsonl and
README.md. Everything is seeded and single-threaded, so a rerun writes the same
bytes. Before writing, each bundle is checked against its own sklearn pipeline
with an independent numpy implementation of the format
(streamscore_export.evaluate): same rejects, same features, same scores.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# One BLAS thread, set before numpy loads: a multi-threaded OpenBLAS splits
# its sums by the number of threads it picks, which depends on the machine
# and its load, and the last bits of the fitted coefficients move with it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import xgboost as xgb  # noqa: E402
from sklearn import datasets  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, mean_absolute_error, roc_auc_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import (  # noqa: E402
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    OneHotEncoder,
    OrdinalEncoder,
    RobustScaler,
    StandardScaler,
)

import churn_data  # noqa: E402
import fraud_data  # noqa: E402
from streamscore_export import (  # noqa: E402
    Schema,
    boolean,
    category,
    derive,
    evaluate,
    export_bundle,
    keras_pipeline,
    number,
    policy,
    reference_rows,
    timestamp,
    write_reference,
)
from streamscore_export import mlp_model  # noqa: E402
from streamscore_export import sklearn_trees  # noqa: E402
from streamscore_export.jsonfmt import pretty  # noqa: E402

REPO = HERE.parent
warnings.filterwarnings("ignore", category=RuntimeWarning)  # log1p of negatives etc. in edge rows


@dataclass
class Example:
    name: str
    description: str
    model: Any
    schema: Schema
    output: policy.Output
    train_frame: Any
    events: list
    notes: list
    readme: str  # body of README.md after the generated header
    metrics: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# edge-case events


def edge_events(base: dict, schema: Schema, unseen: dict[str, str], rng: np.random.Generator,
                train_frame) -> tuple[list[dict], list[str]]:
    """Rows that exercise missing values, unseen categories and out-of-range numbers."""
    evs, notes = [], []

    def add(ev, note):
        evs.append(ev)
        notes.append(note)

    add(dict(base), "base row, complete")
    for inp in schema.inputs:
        e = dict(base)
        e.pop(inp.name, None)
        add(e, f"{inp.name} absent")
        e = dict(base)
        e[inp.name] = None
        add(e, f"{inp.name} null")
    e = {k: v for k, v in base.items() if k not in schema.names}
    add(e, "every model input absent")
    add({k: (None if k in schema.names else v) for k, v in base.items()}, "every model input null")
    for name, value in unseen.items():
        e = dict(base)
        e[name] = value
        add(e, f"{name} unseen category {value!r}")
        e = dict(base)
        e[name] = ""
        add(e, f"{name} empty string (unseen)")
    for inp in schema.inputs:
        if inp.type != "number":
            continue
        col = train_frame[inp.name].to_numpy(dtype=np.float64)
        lo, hi = float(np.nanmin(col)), float(np.nanmax(col))
        for v, what in ((hi * 10 + 1, "10x above training max"), (lo - (hi - lo) - 1, "below training min"),
                        (0.0, "zero"), (-1.0, "minus one"), (1e12, "1e12"), (lo, "training min"),
                        (hi, "training max")):
            e = dict(base)
            e[inp.name] = v
            add(e, f"{inp.name} {what}")
    return evs, notes


def perturbed(rows: list[dict], schema: Schema, n: int, seed: int, miss_rate=0.05, extreme_rate=0.03):
    """n events sampled from rows, with noise, missing fields and extreme values."""
    rng = np.random.default_rng(seed)
    out = []
    nums = [i.name for i in schema.inputs if i.type == "number"]
    for _ in range(n):
        ev = dict(rows[int(rng.integers(0, len(rows)))])
        for f in nums:
            if f in ev and isinstance(ev[f], (int, float)):
                v = float(ev[f]) * float(np.exp(rng.normal(0.0, 0.1)))
                if rng.random() < extreme_rate:
                    v = v * float(rng.choice([-3.0, 10.0, 100.0]))
                ev[f] = round(v, 4)
            r = rng.random()
            if r < miss_rate / 2:
                ev.pop(f, None)
            elif r < miss_rate:
                ev[f] = None
        out.append(ev)
    return out


# ---------------------------------------------------------------------------
# examples


def fraud() -> Example:
    train_events, y = fraud_data.generate(20000, seed=1)
    train_events = fraud_data.blank_some(train_events, seed=2)
    test_events, y_test = fraud_data.generate(3000, seed=3, first_id=20000)

    # A transaction without an amount or a time is broken upstream: the DLQ
    # (missing_field) is the honest answer, not an imputed guess.
    schema = Schema([
        number("amount", required=True),
        number("avg_amount_30d"),
        category("merchant_category"),
        category("country"),
        boolean("card_present"),
        number("distance_from_home_km"),
        number("txn_count_24h"),
        timestamp("timestamp", required=True),
    ])
    X = schema.frame(train_events)
    num = ["amount", "amount_ratio", "txn_count_24h"]
    model = Pipeline([
        ("amount_ratio", derive.ratio("amount", "avg_amount_30d", name="amount_ratio")),
        ("hour", derive.datepart("timestamp", "hour", tz="UTC", name="hour")),
        ("prep", ColumnTransformer([
            ("num", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                              ("scale", StandardScaler())]), num),
            ("distance", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                                   ("log", FunctionTransformer(np.log1p)),
                                   ("scale", StandardScaler())]), ["distance_from_home_km"]),
            ("hour", SimpleImputer(strategy="most_frequent"), ["hour"]),
            ("card_present", SimpleImputer(strategy="most_frequent"), ["card_present"]),
            ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                              ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False))]),
             ["merchant_category", "country"]),
        ], remainder="drop", sparse_threshold=0.0)),
        ("model", xgb.XGBClassifier(n_estimators=100, max_depth=6, learning_rate=0.1, objective="binary:logistic",
                                    tree_method="hist", n_jobs=1, random_state=0, eval_metric="logloss")),
    ])
    model.fit(X, y)
    p = model.predict_proba(schema.frame(test_events))[:, 1]
    metrics = {"test_rows": len(test_events), "test_fraud_rate": round(float(y_test.mean()), 4),
               "test_auc": round(float(roc_auc_score(y_test, p)), 4),
               "flagged_at_0.5": int((p > 0.5).sum())}

    rng = np.random.default_rng(4)
    base = dict(test_events[0])
    evs, notes = edge_events(base, schema, {"merchant_category": "jewelry", "country": "ZZ"}, rng, X)
    hot = dict(base, merchant_category="electronics", timestamp="2026-02-03T03:12:00Z", card_present=False,
               amount=round(base["avg_amount_30d"] * 10, 2), distance_from_home_km=2000.0, txn_count_24h=14,
               country="NG")
    more = [
        (hot, "several fraud triggers at once (expect High Risk)"),
        (dict(base, avg_amount_30d=0.0), "avg_amount_30d zero: ratio on_zero nan -> imputed"),
        (dict(base, amount=0.0, avg_amount_30d=0.0), "0/0 ratio -> on_zero"),
        (dict(base, timestamp="2026-03-01T01:30:00+05:00"), "timestamp with +05:00 offset (UTC hour 20)"),
        (dict(base, timestamp="2026-03-01T23:59:59.999-01:00"), "fractional seconds, -01:00 offset"),
        (dict(base, timestamp=1767225600000), "timestamp as epoch milliseconds (2026-01-01T00:00:00Z)"),
        (dict(base, timestamp=1767239999999), "epoch ms, last ms of hour 3"),
        (dict(base, timestamp="1999-12-31T23:00:00Z"), "timestamp far before training"),
        (dict(base, distance_from_home_km=-5.0), "negative distance: log1p(-5) is NaN -> missing for XGBoost"),
        (dict(base, distance_from_home_km=-1.0), "distance -1: log1p(-1) is -inf"),
        (dict(base, card_present=True), "card present"),
        (dict(base, merchant_category="missing"), "category literally 'missing' (the imputer's fill value)"),
        (dict(base, merchant_category="Grocery"), "case differs from training category"),
        ({"card_id": "card-00001"}, "only the key"),
        ({}, "empty event"),
    ]
    for e, n in more:
        evs.append(e)
        notes.append(n)
    ref = fraud_data.blank_some(test_events, seed=5, rate=0.03)
    events = evs + ref
    notes = notes + [None] * len(ref)

    readme = f"""Synthetic card transactions scored for fraud. The event generator and the fraud
rule are in `train/fraud_data.py` (the Go demo generator produces the same event schema).

## Event

`transaction_id` (string), `card_id` (string, the Kafka key), `amount` (number),
`avg_amount_30d` (number), `merchant_category` (grocery, restaurant, travel, electronics,
fuel, online, pharmacy, entertainment), `country` (US, GB, DE, FR, CA, IN, BR, NG),
`card_present` (bool), `distance_from_home_km` (number), `txn_count_24h` (number),
`timestamp` (RFC 3339 UTC string). `amount` and `timestamp` are required: an event
without them (absent or null) goes to the DLQ with reason `missing_field`; every other
field may be missing and is imputed as below.

## The fraud rule (how the labels were made)

Add up a risk score: start at -6.0; +2.5 if amount / avg_amount_30d > 3, and another +1.5 if
it is > 8; +1.5 if the UTC hour of the timestamp is 0-5; +1.5 if the merchant category is
electronics, travel or online; +1.0 if the card is not present; +2.0 if the distance from
home is over 500 km; +1.5 if there were 10 or more transactions in the last 24 h; +1.0 if
the country is NG or BR. The transaction is fraud with probability 1 / (1 + exp(-score))
(about 4 % of transactions). An event that hits most triggers at once (electronics at
03:00 UTC, card not present, 10x the usual amount, 2,000 km from home, 14 transactions
today, country NG) scores well above the threshold.

## Features (in model column order, see bundle.json)

amount, amount_ratio (= amount / avg_amount_30d, missing when avg is 0 or missing) and
txn_count_24h: median-imputed then standard-scaled; missing indicators for the ones that had
missing values in training; distance_from_home_km: median-imputed, log1p, standard-scaled, plus
its missing indicator; hour of day (UTC) from the timestamp, most-frequent imputed;
card_present (1/0), most-frequent imputed; merchant_category and country: missing -> "missing",
then one-hot (unknown -> all zeros).

## Model

XGBoost `binary:logistic`, 100 trees, max depth 6, learning rate 0.1, trained on 20,000
synthetic transactions (seed 1, 2 % of some fields blanked). Held-out 3,000 transactions:
fraud rate {metrics['test_fraud_rate']}, ROC AUC {metrics['test_auc']}.

Decision: score (probability of fraud) > 0.5 -> "High Risk", else "Low Risk".
"""
    return Example(
        "fraud", "card-transaction fraud, XGBoost binary:logistic on a sklearn feature pipeline",
        model, schema,
        policy.binary(["Low Risk", "High Risk"], [(0.5, "High Risk")], "Low Risk"),
        X, events, notes, readme, metrics)


IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
IRIS_COLS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _iris_rows():
    d = datasets.load_iris()
    rows = [dict(zip(IRIS_COLS, (float(v) for v in x))) for x in d.data]
    return rows, d.target


def _iris_events(schema, frame, rows, seed):
    base = dict(rows[75])
    evs, notes = edge_events(base, schema, {}, np.random.default_rng(seed), frame)
    evs += rows
    notes += [None] * len(rows)
    pert = perturbed(rows, schema, 2000 - len(evs), seed=seed)
    return evs + pert, notes + [None] * len(pert)


def iris() -> Example:
    rows, y = _iris_rows()
    schema = Schema([number(c) for c in IRIS_COLS])
    X = schema.frame(rows)
    model = Pipeline([
        ("impute", SimpleImputer(strategy="mean")),
        ("scale", StandardScaler()),
        ("model", LogisticRegression(C=1.0, max_iter=1000)),
    ]).fit(X, y)
    acc = accuracy_score(y, model.predict(X))
    events, notes = _iris_events(schema, X, rows, seed=10)
    readme = f"""scikit-learn's bundled iris data (150 flowers, 4 measurements in cm, 3 species).
Pipeline: SimpleImputer(mean) -> StandardScaler -> LogisticRegression (lbfgs, multinomial,
C=1). Training accuracy {acc:.4f}.

Output: per-class probabilities for setosa, versicolor, virginica (softmax); the label is
the most probable class.

Reference rows: the 150 original flowers, edge cases (missing, null, out-of-range values)
and perturbed copies (noise, missing fields, extreme values).
"""
    return Example("iris", "iris species, multinomial logistic regression", model, schema,
                   policy.multiclass(IRIS_CLASSES), X, events, notes, readme, {"train_accuracy": round(acc, 4)})


def iris_xgb() -> Example:
    rows, y = _iris_rows()
    schema = Schema([number(c) for c in IRIS_COLS])
    X = schema.frame(rows)
    model = Pipeline([
        ("model", xgb.XGBClassifier(objective="multi:softprob", n_estimators=20, max_depth=3, learning_rate=0.3,
                                    tree_method="hist", n_jobs=1, random_state=0)),
    ]).fit(X, y)
    acc = accuracy_score(y, model.predict(X))
    events, notes = _iris_events(schema, X, rows, seed=11)
    readme = f"""scikit-learn's bundled iris data, XGBoost `multi:softprob` straight on the raw
measurements (no preprocessing; missing values go to XGBoost as NaN and follow each node's
default direction). 20 rounds x 3 classes = 60 trees, max depth 3. Training accuracy {acc:.4f}.

Small bundle to test the multi:softprob objective.
"""
    return Example("iris-xgb", "iris species, XGBoost multi:softprob", model, schema,
                   policy.multiclass(IRIS_CLASSES), X, events, notes, readme, {"train_accuracy": round(acc, 4)})


def breast_cancer() -> Example:
    d = datasets.load_breast_cancer()
    cols = [n.replace(" ", "_") for n in d.feature_names]
    rows = [dict(zip(cols, (float(v) for v in x))) for x in d.data]
    y = 1 - d.target  # 1 = malignant
    schema = Schema([number(c) for c in cols])
    X = schema.frame(rows)
    rng = np.random.default_rng(20)
    test = rng.random(len(rows)) < 0.25
    model = Pipeline([
        ("scale", StandardScaler()),
        ("model", xgb.XGBClassifier(n_estimators=100, max_depth=4, learning_rate=0.1, objective="binary:logistic",
                                    tree_method="hist", n_jobs=1, random_state=0)),
    ])
    model.fit(X[~test], y[~test])
    auc = roc_auc_score(y[test], model.predict_proba(X[test])[:, 1])
    model.fit(X, y)
    base = dict(rows[0])
    evs, notes = edge_events(base, schema, {}, rng, X)
    evs += rows
    notes += [None] * len(rows)
    pert = perturbed(rows, schema, 2000 - len(evs), seed=21)
    readme = f"""scikit-learn's bundled Wisconsin breast-cancer data (569 samples, 30 numeric
features; field names are sklearn's feature names with spaces replaced by underscores).
Pipeline: StandardScaler -> XGBoost `binary:logistic` (100 trees, max depth 4, learning
rate 0.1). No imputer: a missing value stays NaN through the scaler and XGBoost sends it
along each node's default direction. Held-out AUC (25 % split, seed 20) {auc:.4f}; the
exported model is refit on all 569 rows.

Classes: ["benign", "malignant"]; score = probability of malignant; > 0.5 -> "malignant".
"""
    return Example("breast-cancer", "breast cancer diagnosis, StandardScaler + XGBoost binary:logistic", model,
                   schema, policy.binary(["benign", "malignant"]), X, evs + pert, notes + [None] * len(pert),
                   readme, {"holdout_auc": round(auc, 4)})


def churn() -> Example:
    train_events, y = churn_data.generate(8000, seed=30)
    train_events = churn_data.blank_some(train_events, seed=31)
    test_events, y_test = churn_data.generate(2000, seed=32)
    schema = Schema([
        number("tenure_months"),
        number("monthly_charges", required=True),
        number("total_charges"),
        category("contract", required=True),
        category("internet_service"),
        category("payment_method"),
        boolean("senior_citizen"),
        number("support_calls"),
        timestamp("last_payment"),
    ])
    X = schema.frame(train_events)
    model = Pipeline([
        ("charge_per_month", derive.ratio("total_charges", "tenure_months", name="charge_per_month", on_zero=0.0)),
        ("expected_total", derive.product("tenure_months", "monthly_charges", name="expected_total")),
        ("weekday", derive.datepart("last_payment", "weekday", tz="Europe/Berlin", name="payment_weekday")),
        ("prep", ColumnTransformer([
            ("tenure_bins", Pipeline([("impute", SimpleImputer(strategy="median")),
                                      ("bins", KBinsDiscretizer(n_bins=4, encode="onehot-dense",
                                                                strategy="quantile"))]), ["tenure_months"]),
            ("tenure", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                                 ("minmax", MinMaxScaler(clip=True))]), ["tenure_months"]),
            ("charges", Pipeline([("impute", SimpleImputer(strategy="mean")), ("robust", RobustScaler())]),
             ["monthly_charges", "charge_per_month"]),
            ("total", Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                                ("log", FunctionTransformer(np.log1p)), ("scale", StandardScaler())]),
             ["total_charges", "expected_total"]),
            ("contract", OneHotEncoder(handle_unknown="error", drop="first", sparse_output=False), ["contract"]),
            ("internet", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                   ("ordinal", OrdinalEncoder(handle_unknown="use_encoded_value",
                                                              unknown_value=-1))]), ["internet_service"]),
            ("payment", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=0.03,
                                      sparse_output=False), ["payment_method"]),
            ("calls", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value=0.0)),
                                ("scale", StandardScaler())]), ["support_calls"]),
            ("weekday", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                                  ("bins", KBinsDiscretizer(n_bins=3, encode="ordinal", strategy="uniform"))]),
             ["payment_weekday"]),
            ("senior", SimpleImputer(strategy="most_frequent"), ["senior_citizen"]),
        ], remainder="drop", sparse_threshold=0.0)),
        ("model", LogisticRegression(C=1.0, max_iter=2000)),
    ])
    model.fit(X, y)
    p = model.predict_proba(schema.frame(test_events))[:, 1]
    auc = roc_auc_score(y_test, p)

    base = dict(test_events[0])
    evs, notes = edge_events(base, schema, {"contract": "three-year", "internet_service": "satellite",
                                            "payment_method": "cash"}, np.random.default_rng(33), X)
    more = [
        (dict(base, payment_method="crypto"), "infrequent payment method (shares the unknown column)"),
        (dict(base, payment_method="voucher"), "infrequent payment method"),
        (dict(base, tenure_months=0, total_charges=0.0), "tenure 0: total/tenure ratio on_zero -> 0"),
        (dict(base, tenure_months=0, total_charges=None), "tenure 0 and total null: missing operand wins over on_zero"),
        (dict(base, tenure_months=0, total_charges=-2.0), "total_charges -2: log1p(-2) is a computed NaN -> not_finite"),
        (dict(base, tenure_months=500), "tenure above minmax data_max: clipped to 1"),
        (dict(base, tenure_months=-12), "negative tenure: clipped to 0"),
        (dict(base, contract="two-year", tenure_months=72, support_calls=0), "loyal customer"),
        (dict(base, contract="month-to-month", tenure_months=1, support_calls=9, internet_service="fiber",
              payment_method="electronic-check", monthly_charges=110.0), "likely churner"),
        (dict(base, last_payment="2026-03-29T00:30:00Z"), "DST day in Europe/Berlin (Sunday 02:30 local)"),
        (dict(base, last_payment="2026-03-22T23:30:00Z"), "Sunday 23:30 UTC = Monday in Berlin"),
    ]
    for e, n in more:
        evs.append(e)
        notes.append(n)
    ref = churn_data.blank_some(test_events, seed=34, rate=0.03,
                                fields=churn_data.BLANKABLE + ["payment_method", "last_payment", "monthly_charges"])
    readme = f"""Synthetic telco customers (generator and churn rule in `train/churn_data.py`).
Logistic regression on a feature pipeline that uses most step kinds of the bundle format:
derived ratio (total_charges / tenure_months, 0 when tenure is 0) and product
(tenure_months * monthly_charges), weekday of the last payment in Europe/Berlin, median /
mean / most-frequent / constant imputation with missing indicators, quantile buckets
(one-hot) and uniform buckets (ordinal), min-max scaling with clipping, robust and standard
scaling, log1p, one-hot with drop='first' and handle_unknown='error', one-hot with an
infrequent-categories column, ordinal encoding with unknown_value=-1.

Required inputs: monthly_charges and contract (missing or null -> DLQ `missing_field`).
An unseen contract type is refused by sklearn (handle_unknown='error') -> DLQ
`unknown_category`. Unknown or missing payment methods land in the infrequent column.

Trained on 8,000 customers (seed 30, 3 % of some fields blanked); held-out AUC on 2,000:
{auc:.4f}.

Classes ["Stay", "Churn"]; score = probability of churn; score > 0.6 -> "Churn", else "Stay".
"""
    return Example("churn", "telco churn, logistic regression on a mixed feature pipeline", model, schema,
                   policy.binary(["Stay", "Churn"], [(0.6, "Churn")], "Stay"), X, evs + ref,
                   notes + [None] * len(ref), readme, {"holdout_auc": round(auc, 4)})


def _risk_events() -> tuple[list[dict], list]:
    """The reference events of risk-rule and risk-mlp (the same, so the two compare row by row)."""
    edge = [45.0, 45.0 + 1e-9, 45.000001, 44.999999, math.nextafter(45.0, 100.0), math.nextafter(45.0, 0.0),
            0.0, -5.0, -1e9, 1e9, 1e200, -1e200, 100.0, 1e-300, 5e-324]
    evs = [{"value": v} for v in edge]
    notes = ["boundary: 2*45+10 = 100 is not > 100"] + [None] * (len(edge) - 1)
    evs += [{"id": "r-1"}, {"value": None}, {}]
    notes += ["value absent: required -> DLQ", "value null: required -> DLQ", "empty event"]
    rng = np.random.default_rng(40)
    for v in rng.uniform(-50, 150, 1000):
        evs.append({"value": round(float(v), 3)})
        notes.append(None)
    for v in range(-10, 111):
        evs.append({"value": v})
        notes.append(None)
    return evs, notes


def risk_rule() -> Example:
    schema = Schema([number("value", required=True)])
    xs = [{"value": float(v)} for v in range(0, 101)]
    X = schema.frame(xs)
    yv = 2.0 * X["value"].to_numpy() + 10.0
    lr = LinearRegression().fit(X, yv)
    exact = float(lr.coef_[0]) == 2.0 and float(lr.intercept_) == 10.0
    if not exact:  # lstsq may land one ulp away; the rule is exact by definition
        lr.coef_ = np.array([2.0])
        lr.intercept_ = 10.0
    model = Pipeline([("model", lr)])
    evs, notes = _risk_events()
    readme = f"""A bundle that exactly encodes the rule "value * 2 + 10 > 100 -> High Risk, else
Low Risk" as a linear regression: coef [[2.0]], intercept [10.0], no feature steps,
regression task with one threshold (score > 100). The LinearRegression was fitted on
value = 0..100 with target 2*value+10 (exact fit: {exact}; the coefficients are set to
exactly 2 and 10 otherwise), and the reference scores come from its `predict`.

`value` is required: an event without it (absent or null) goes to the DLQ
(`missing_field`). Note the boundary: value 45 gives exactly 100, which is *not* above
the threshold -> "Low Risk".

`risk-mlp` beside it scores the same events with a Keras network trained on this rule
(value -> risk probability, same labels).
"""
    return Example("risk-rule", "value*2+10 > 100 -> High Risk, as a linear bundle", model, schema,
                   policy.regression([(100.0, "High Risk")], "Low Risk"), X, evs, notes, readme,
                   {"exact_fit": exact})


def _keras():
    """Keras on JAX, single-threaded and seeded, so a rerun trains the same weights."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    from streamscore_export.mlp_model import keras

    k = keras()
    k.utils.set_random_seed(0)
    return k


def risk_mlp() -> Example:
    """risk-rule's live-feed value, scored by a Keras network instead of the rule."""
    import tempfile

    k = _keras()
    schema = Schema([number("value", required=True)])
    rng = np.random.default_rng(41)
    v = rng.uniform(-50.0, 150.0, 4000).round(3)
    # the rule's score 2v+10 against its threshold 100, blurred: risk rises over ~10 around value 45
    y = (rng.random(len(v)) < 1.0 / (1.0 + np.exp(-(2.0 * v + 10.0 - 100.0) / 4.0))).astype(np.float32)
    X = schema.frame([{"value": float(x)} for x in v])
    scale = Pipeline([("scale", StandardScaler())]).fit(X)
    net = k.Sequential([
        k.Input((1,), name="value"),
        k.layers.Dense(16, activation="relu", name="hidden1"),
        k.layers.Dropout(0.1, name="dropout"),
        k.layers.BatchNormalization(name="norm"),
        k.layers.Dense(8, activation="tanh", name="hidden2"),
        k.layers.Dense(1, activation="sigmoid", name="risk"),
    ], name="risk_mlp")
    net.compile(optimizer=k.optimizers.Adam(0.01), loss="binary_crossentropy")
    net.fit(scale.transform(X).astype(np.float32), y, epochs=15, batch_size=64, verbose=0, shuffle=True)
    with tempfile.TemporaryDirectory() as tmp:  # exported from the saved file, as a user would
        path = os.path.join(tmp, "risk_mlp.keras")
        net.save(path)
        model = keras_pipeline(path, features=scale)
        model[-1]._model()  # load it while the file exists
    evs, notes = _risk_events()
    p = model.predict_proba(X)[:, 1]
    rule = 2.0 * v + 10.0 > 100.0
    agree = float(((p > 0.5) == rule).mean())
    readme = f"""The live-feed `value` of the Django real-time tutorial (the one that serves a Keras
`model.h5` behind an HTTP endpoint), scored by a small Keras network: value -> risk
probability. It sits beside `risk-rule`, which encodes the tutorial's rule
"value * 2 + 10 > 100 -> High Risk" exactly; both bundles take the same event
(`{{"value": 47.5}}`), have the same reference events and the same labels
("Low Risk", "High Risk"), so their outputs compare row by row.

Training data: 4,000 values uniform in [-50, 150] (seed 41); the label is High Risk with
probability sigmoid((2*value + 10 - 100) / 4): the rule's boundary (value 45), blurred
over about +-5 so that the network learns a probability, not a step.

Network (Keras {k.__version__}, JAX backend, float32): StandardScaler on `value` (in the
bundle's feature pipeline, fitted in sklearn) -> Dense(16, relu) -> Dropout(0.1) ->
BatchNormalization -> Dense(8, tanh) -> Dense(1, sigmoid); Adam(0.01), binary
cross-entropy, 15 epochs. Saved as `risk_mlp.keras` and exported from that file with
`keras_pipeline(path, features=scaler)`: Dropout is dropped (the identity at inference) and
BatchNormalization (after the first layer's relu) folded into the second Dense layer's weights.

Decision: score (the probability of High Risk) > 0.5 -> "High Risk", else "Low Risk". On
the 4,000 training values the network's label agrees with the rule's on
{agree * 100:.2f} %; they differ only near value 45.

`value` is required: an event without it goes to the DLQ (`missing_field`), as in
risk-rule. Values so large that float32 overflows (1e200) make the network's output NaN,
which the bundle rejects (`not_finite`) where the rule scores them.

Parity: float32 network, so Keras's own `predict` and the Go kernel sum in different
orders; the bundle is checked within 1e-5 (docs/bundle.md, kind `mlp`).
"""
    return Example("risk-mlp", "value -> risk probability, a Keras Dense network beside risk-rule", model, schema,
                   policy.binary(["Low Risk", "High Risk"], [(0.5, "High Risk")], "Low Risk"), X, evs, notes, readme,
                   {"agreement_with_rule": round(agree, 4)})


def diabetes_xgb() -> Example:
    d = datasets.load_diabetes()
    cols = list(d.feature_names)
    rows = [dict(zip(cols, (float(v) for v in x))) for x in d.data]
    schema = Schema([number(c) for c in cols])
    X = schema.frame(rows)
    model = Pipeline([
        ("minmax", MinMaxScaler(clip=True)),
        ("model", xgb.XGBRegressor(objective="reg:squarederror", n_estimators=50, max_depth=4, learning_rate=0.1,
                                   tree_method="hist", n_jobs=1, random_state=0)),
    ]).fit(X, d.target)
    mae = mean_absolute_error(d.target, model.predict(X))
    base = dict(rows[0])
    evs, notes = edge_events(base, schema, {}, np.random.default_rng(50), X)
    evs += rows
    notes += [None] * len(rows)
    pert = perturbed(rows, schema, 1200 - len(evs), seed=51)
    readme = f"""scikit-learn's bundled diabetes data (442 patients, 10 standardized features, target
= disease progression after one year). Pipeline: MinMaxScaler(clip=True) -> XGBoost
`reg:squarederror` (50 trees, max depth 4). Training MAE {mae:.2f}. Values outside the
training range are clipped to [0, 1] before the trees.

Small bundle to test the reg:squarederror objective and minmax clipping. Decision:
prediction > 200 -> "high progression", else "low progression".
"""
    return Example("diabetes-xgb", "diabetes progression, XGBoost reg:squarederror", model, schema,
                   policy.regression([(200.0, "high progression")], "low progression"), X,
                   evs + pert, notes + [None] * len(pert), readme, {"train_mae": round(mae, 2)})


def support_calls_poisson() -> Example:
    rng = np.random.default_rng(60)
    plans = ["basic", "plus", "pro"]
    rows, y = [], []
    for i in range(3000):
        plan = plans[int(rng.integers(0, 3))]
        tenure = int(rng.integers(0, 61))
        usage = round(float(rng.gamma(2.0, 20.0)), 1)
        bill = round(20.0 + 0.5 * usage + {"basic": 0, "plus": 15, "pro": 40}[plan], 2)
        prev = round(bill * float(rng.uniform(0.8, 1.1)), 2)
        lam = math.exp(-0.5 + 0.015 * usage - 0.02 * tenure + 0.04 * (bill - prev)
                       + {"basic": 0.3, "plus": 0.0, "pro": -0.3}[plan])
        rows.append({"account_id": f"acct-{i:05d}", "plan": plan, "tenure_months": tenure, "usage_gb": usage,
                     "bill_amount": bill, "previous_bill_amount": prev})
        y.append(int(rng.poisson(lam)))
    rows_blank = churn_data.blank_some(rows, seed=61, rate=0.03, fields=["usage_gb", "previous_bill_amount"])
    schema = Schema([category("plan"), number("tenure_months"), number("usage_gb"), number("bill_amount"),
                     number("previous_bill_amount")])
    X = schema.frame(rows_blank)
    model = Pipeline([
        ("bill_change", derive.difference("bill_amount", "previous_bill_amount", name="bill_change")),
        ("prep", ColumnTransformer([
            ("num", SimpleImputer(strategy="median"), ["tenure_months", "usage_gb", "bill_change"]),
            ("plan", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["plan"]),
        ], remainder="drop")),
        ("model", xgb.XGBRegressor(objective="count:poisson", n_estimators=30, max_depth=3, learning_rate=0.2,
                                   tree_method="hist", n_jobs=1, random_state=0)),
    ]).fit(X, np.asarray(y))
    base = dict(rows[0])
    evs, notes = edge_events(base, schema, {"plan": "enterprise"}, rng, X)
    evs += rows_blank[:1000]
    notes += [None] * 1000
    readme = """Synthetic support-call counts per account and month (generator in
`train/make_examples.py`, function support_calls_poisson): calls ~ Poisson(exp(-0.5 +
0.015*usage_gb - 0.02*tenure_months + 0.04*(bill_amount - previous_bill_amount) + plan
effect)). Pipeline: derived difference bill_amount - previous_bill_amount, median
imputation, plan ordinal-encoded (unknown -> -1), XGBoost `count:poisson` (30 trees, max
depth 3). The score is the expected number of calls (exp of the margin).

Small bundle to test the count:poisson objective and the difference derive.
Decision: expected calls > 3 -> "follow up", else "ok".
"""
    return Example("support-calls-poisson", "support calls per month, XGBoost count:poisson", model, schema,
                   policy.regression([(3.0, "follow up")], "ok"), X, evs, notes, readme)


# ---------------------------------------------------------------------------
# LightGBM and HistGradientBoosting examples


def threshold_events(base: dict, splits: dict[str, list[float]], schema: Schema,
                     per_input: int = 12) -> tuple[list, list]:
    """Events with one number input set exactly on a split threshold and one float64 step either side."""
    evs, notes = [], []
    for name, thr in splits.items():
        if schema[name].type != "number":
            continue
        thr = sorted({t for t in thr if math.isfinite(t)})
        pick = [thr[int(i)] for i in np.linspace(0, len(thr) - 1, min(per_input, len(thr)))] if thr else []
        for t in pick:
            for v, what in ((t, "on"), (math.nextafter(t, math.inf), "just above"),
                            (math.nextafter(t, -math.inf), "just below")):
                evs.append(dict(base, **{name: v}))
                notes.append(f"{name} {what} split threshold {t!r}")
    return evs, notes


def lgb_splits(model, names: list[str]) -> dict[str, list[float]]:
    """Numerical thresholds per model column of a fitted LightGBM model, by the column names given."""
    from streamscore_export import lightgbm_model

    text = lightgbm_model.model_text(model.booster_)
    out: dict[str, list[float]] = {n: [] for n in names}
    feat = thr = dec = None
    for line in text.splitlines():
        if line.startswith("split_feature="):
            feat = [int(v) for v in line.split("=")[1].split()]
        elif line.startswith("threshold="):
            thr = [float(v) for v in line.split("=")[1].split()]
        elif line.startswith("decision_type="):
            dec = [int(v) for v in line.split("=")[1].split()]
            for f, t, d in zip(feat, thr, dec):
                if not d & 1 and names[f] is not None:
                    out[names[f]].append(t)
    return {k: v for k, v in out.items() if k is not None}


BIKE_YEAR = 2012


def _bike_rows(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    rows, y = [], []
    start = np.datetime64(f"{BIKE_YEAR}-01-01")
    for i in range(n):
        d = start + np.timedelta64(int(rng.integers(0, 366)), "D")
        month, day = int(str(d)[5:7]), int(str(d)[8:10])
        doy = int((d - start) / np.timedelta64(1, "D")) + 1
        weekday = int((d.astype("datetime64[D]").view("int64") - 4) % 7)  # 1970-01-01 was a Thursday (3)
        weekday = (weekday + 3) % 7  # Monday = 0
        hour = int(rng.integers(0, 24))
        season_temp = 15 - 12 * math.cos(2 * math.pi * (doy - 20) / 366)
        temp = round(float(season_temp + rng.normal(0, 4)), 1)
        humidity = round(float(np.clip(rng.normal(60, 18), 5, 100)), 0)
        wind = round(float(abs(rng.normal(12, 7))), 1)
        workday = weekday < 5
        peak = (2.2 * math.exp(-((hour - 8) ** 2) / 2) + 2.6 * math.exp(-((hour - 17.5) ** 2) / 3)) if workday \
            else 1.6 * math.exp(-((hour - 14) ** 2) / 12)
        lam = math.exp(1.2 + peak + 0.05 * temp - 0.012 * humidity - 0.015 * wind + (0.3 if hour >= 7 else -1.0))
        rows.append({"ride_request_id": f"req-{i:06d}", "month": month, "day": day, "hour": hour, "temp": temp,
                     "humidity": humidity, "windspeed": wind})
        y.append(int(rng.poisson(lam)))
    return rows, np.asarray(y)


def bike_demand() -> Example:
    import lightgbm as lgb

    rows, y = _bike_rows(6000, seed=70)
    rows = churn_data.blank_some(rows, seed=71, rate=0.02, fields=["temp", "humidity", "windspeed"])
    schema = Schema([number("month"), number("day"), number("hour", required=True), number("temp"),
                     number("humidity"), number("windspeed")])
    X = schema.frame(rows)
    cols = ["hour", "temp", "humidity", "windspeed", "dayofyear", "weekday"]
    model = Pipeline([
        ("date", derive.date("month", "day", year=BIKE_YEAR, name="date")),
        ("dayofyear", derive.datepart("date", "dayofyear", name="dayofyear")),
        ("weekday", derive.datepart("date", "weekday", name="weekday")),
        ("prep", ColumnTransformer([("num", "passthrough", cols)], remainder="drop")),
        ("model", lgb.LGBMRegressor(objective="poisson", n_estimators=150, num_leaves=31, learning_rate=0.08,
                                    min_child_samples=10, n_jobs=1, random_state=0, verbose=-1)),
    ]).fit(X, y)
    test, y_test = _bike_rows(1500, seed=72)
    mae = mean_absolute_error(y_test, model.predict(schema.frame(test)))
    base = dict(test[0])
    evs, notes = edge_events(base, schema, {}, np.random.default_rng(73), X)
    splits = lgb_splits(model[-1], cols)
    tev, tnotes = threshold_events(base, {k: v for k, v in splits.items() if k in ("hour", "temp", "humidity",
                                                                                   "windspeed")}, schema)
    more = [
        (dict(base, month=2, day=29), f"February 29 ({BIKE_YEAR} is a leap year)"),
        (dict(base, month=2, day=30), "February 30: no such date -> dayofyear and weekday missing"),
        (dict(base, month=13, day=1), "month 13: no such date -> missing"),
        (dict(base, month=4.5, day=1), "fractional month -> missing"),
        (dict(base, month=12, day=31), "last day of the year (dayofyear 366)"),
        (dict(base, month=1, day=1), "first day of the year (a Sunday in 2012)"),
        (dict(base, month=7, day=2, hour=8), "a Monday rush hour"),
        (dict(base, month=7, day=1, hour=8), "a Sunday morning"),
        (dict(base, hour=24), "hour 24, outside training"),
    ]
    evs += tev + [e for e, _ in more] + test[:900]
    notes += tnotes + [n for _, n in more] + [None] * 900
    readme = f"""Hourly bike-rental demand (the Flask bike-demand tutorial's model), synthetic data from
`train/make_examples.py` (`_bike_rows`): rentals ~ Poisson with a weekday rush-hour pattern, a
weekend midday peak, warmer days busier, humid and windy hours quieter.

The producer sends `month`, `day`, `hour`, `temp`, `humidity`, `windspeed` (what the tutorial's form
posts). The bundle derives the rest: a `derive` of op `date` builds {BIKE_YEAR}-month-day (the year the
model was trained on), and two `datepart` steps take its `dayofyear` (1-366) and `weekday`
(Monday=0). An impossible date (February 30, month 13, a fractional month) makes both missing, and
LightGBM sends missing values along each split's default direction. Only `hour` is required.

Model: LightGBM `LGBMRegressor(objective="poisson")`, 150 trees of up to 31 leaves, on hour, temp,
humidity, windspeed, dayofyear, weekday. The score is the expected number of rentals (exp of the raw
score). Held-out MAE on 1,500 synthetic hours: {mae:.2f}.

Decision: expected rentals > 100 -> "busy", else "normal".

Reference rows include values exactly on split thresholds and one float64 step either side.
"""
    return Example("bike-demand", "hourly bike demand, LightGBM poisson with day-of-year and weekday derived in the bundle",
                   model, schema, policy.regression([(100.0, "busy")], "normal"), X, evs, notes, readme,
                   {"holdout_mae": round(mae, 2)})


# the churn inputs the tree examples use (no last_payment: a timestamp is no tree feature)
CHURN_TREE_SCHEMA = Schema([
    number("tenure_months"), number("monthly_charges", required=True), number("total_charges"),
    category("contract", required=True), category("internet_service"), category("payment_method"),
    boolean("senior_citizen"), number("support_calls"),
])


def churn_lgbm() -> Example:
    import lightgbm as lgb
    from streamscore_export import lightgbm_model

    train_events, y = churn_data.generate(8000, seed=80)
    train_events = churn_data.blank_some(train_events, seed=81, fields=churn_data.BLANKABLE + ["payment_method"])
    test_events, y_test = churn_data.generate(2000, seed=82)
    schema = CHURN_TREE_SCHEMA
    X = schema.frame(train_events)
    model = Pipeline([
        ("charge_per_month", derive.ratio("total_charges", "tenure_months", name="charge_per_month", on_zero=0.0)),
        ("categories", lightgbm_model.categorical(["contract", "internet_service", "payment_method"])),
        ("model", lgb.LGBMClassifier(n_estimators=120, num_leaves=15, learning_rate=0.05, min_child_samples=20,
                                     min_data_per_group=20, cat_smooth=5, n_jobs=1, random_state=0, verbose=-1)),
    ]).fit(X, y)
    auc = roc_auc_score(y_test, model.predict_proba(schema.frame(test_events))[:, 1])
    base = dict(test_events[0])
    evs, notes = edge_events(base, schema, {"contract": "three-year", "internet_service": "satellite",
                                            "payment_method": "cash"}, np.random.default_rng(83), X)
    names = ["tenure_months", "monthly_charges", "total_charges", None, None, None, None, "support_calls", None]
    tev, tnotes = threshold_events(base, lgb_splits(model[-1], names), schema, per_input=8)
    more = [
        (dict(base, payment_method="crypto"), "rare payment method (seen in training)"),
        (dict(base, payment_method="voucher"), "rare payment method"),
        (dict(base, contract="Month-To-Month"), "case differs from the training category: unseen"),
        (dict(base, tenure_months=0, total_charges=0.0), "tenure 0: ratio on_zero -> 0"),
        (dict(base, tenure_months=1e-40), "tenure 1e-40: LightGBM reads |x| <= 1e-35 as 0"),
        (dict(base, contract="two-year", tenure_months=72, support_calls=0), "loyal customer"),
        (dict(base, contract="month-to-month", tenure_months=1, support_calls=9, internet_service="fiber",
              payment_method="electronic-check", monthly_charges=110.0), "likely churner"),
    ]
    ref = churn_data.blank_some(test_events, seed=84, rate=0.03,
                                fields=churn_data.BLANKABLE + ["payment_method", "monthly_charges"])
    evs += tev + [e for e, _ in more] + ref[:1200]
    notes += tnotes + [n for _, n in more] + [None] * 1200
    readme = f"""Synthetic telco customers (generator and churn rule in `train/churn_data.py`), LightGBM with native
categorical features. The pipeline hands LightGBM a DataFrame: the numbers as they are (missing stays
NaN), a derived ratio total_charges / tenure_months (0 when tenure is 0), and contract,
internet_service and payment_method as pandas categoricals (`streamscore_export.lightgbm_model.categorical`,
categories in pandas' order: sorted). LightGBM splits on their integer codes with category bitsets.

The bundle maps each category string to the same code with an `ordinal` step listing the training
categories in that order; an unseen category (or a missing one) becomes missing, which LightGBM sends
right at every categorical split, exactly as it treats an unseen code. `contract` and
`monthly_charges` are required (missing -> DLQ `missing_field`).

Model: `LGBMClassifier`, 120 trees of up to 15 leaves, learning rate 0.05; objective binary.
Held-out AUC on 2,000 customers: {auc:.4f}.

Classes ["Stay", "Churn"]; score = probability of churn; score > 0.6 -> "Churn", else "Stay".
Reference rows include values on split thresholds and one float64 step either side.
"""
    return Example("churn-lgbm", "telco churn, LightGBM with pandas-categorical features", model, schema,
                   policy.binary(["Stay", "Churn"], [(0.6, "Churn")], "Stay"), X, evs, notes, readme,
                   {"holdout_auc": round(auc, 4)})


def churn_hgb() -> Example:
    from sklearn.ensemble import HistGradientBoostingClassifier

    train_events, y = churn_data.generate(8000, seed=90)
    train_events = churn_data.blank_some(train_events, seed=91)
    test_events, y_test = churn_data.generate(2000, seed=92)
    schema = CHURN_TREE_SCHEMA
    X = schema.frame(train_events)
    nums = ["tenure_months", "monthly_charges", "total_charges", "senior_citizen", "support_calls"]
    model = Pipeline([
        ("prep", ColumnTransformer([
            ("contract", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), ["contract"]),
            ("internet", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                                   ("ordinal", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1))]),
             ["internet_service"]),
            ("payment", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan), ["payment_method"]),
            ("num", "passthrough", nums),
        ], remainder="drop", sparse_threshold=0.0)),
        ("model", HistGradientBoostingClassifier(max_iter=100, max_leaf_nodes=15, learning_rate=0.1,
                                                 categorical_features=[0, 1, 2], early_stopping=False,
                                                 random_state=0)),
    ]).fit(X, y)
    auc = roc_auc_score(y_test, model.predict_proba(schema.frame(test_events))[:, 1])
    base = dict(test_events[0])
    evs, notes = edge_events(base, schema, {"contract": "three-year", "internet_service": "satellite",
                                            "payment_method": "cash"}, np.random.default_rng(93), X)
    splits: dict[str, list[float]] = {n: [] for n in nums}
    for it in model[-1]._predictors:
        for pred in it:
            for nd in pred.nodes:
                if not nd["is_leaf"] and not nd["is_categorical"] and nd["feature_idx"] >= 3:
                    splits[nums[nd["feature_idx"] - 3]].append(float(nd["num_threshold"]))
    tev, tnotes = threshold_events(base, splits, schema, per_input=8)
    more = [
        (dict(base, internet_service="satellite"), "unseen internet service -> -1: the missing direction"),
        (dict(base, internet_service="missing"), "the imputer's fill value, seen in training"),
        (dict(base, contract="Month-To-Month"), "case differs: unseen contract -> NaN: the missing direction"),
        (dict(base, tenure_months=0), "tenure 0"),
    ]
    ref = churn_data.blank_some(test_events, seed=94, rate=0.03,
                                fields=churn_data.BLANKABLE + ["payment_method", "monthly_charges"])
    evs += tev + [e for e, _ in more] + ref[:1200]
    notes += tnotes + [n for _, n in more] + [None] * 1200
    readme = f"""Synthetic telco customers (`train/churn_data.py`), scikit-learn's
`HistGradientBoostingClassifier` with native missing values and native categorical features.

contract, internet_service and payment_method are `OrdinalEncoder` codes (the bundle's `ordinal` step),
declared `categorical_features=[0, 1, 2]`: the trees split them with category bitsets. Unknown
contracts and payment methods encode as NaN, unknown internet services as -1 (after missing ones are
imputed as "missing"); HistGradientBoosting sends NaN, negative codes and categories it did not see in
training along each split's missing-value direction, and so does the bundle. The numbers go in as
they are; a missing one (NaN) follows each split's `missing_go_to_left`.

Model: 100 iterations, up to 15 leaves per tree, learning rate 0.1, no early stopping (`random_state=0`).
Held-out AUC on 2,000 customers: {auc:.4f}. Exported as the `histgb` kind: the predictors' node arrays and
bitsets in `histgb.json`.

Classes ["Stay", "Churn"]; score = probability of churn; score > 0.6 -> "Churn", else "Stay".
Reference rows include values on split thresholds and one float64 step either side.
"""
    return Example("churn-hgb", "telco churn, HistGradientBoostingClassifier with native categorical features",
                   model, schema, policy.binary(["Stay", "Churn"], [(0.6, "Churn")], "Stay"), X, evs, notes,
                   readme, {"holdout_auc": round(auc, 4)})


def _describe_lightgbm(path: Path) -> str:
    from streamscore_export import lightgbm_model

    h = lightgbm_model.header(path.read_text())
    return f"LightGBM {h['objective']}"


def _describe_histgb(path: Path) -> str:
    d = json.loads(path.read_text())
    return f"scikit-learn {d['estimator']} ({d['loss']}, link {d['link']})"


MODEL_DESC = {"lightgbm": _describe_lightgbm, "histgb": _describe_histgb}


def near_threshold_events(model, schema: Schema, manifest: dict, base: dict, trees, levels: int = 3,
                          limit: int = 40) -> tuple[list[dict], list[str]]:
    """Events whose model column lands on, and one float32 step either side of, a tree's split threshold.

    For the splits in the top ``levels`` of ``trees`` (fitted sklearn trees) on a column fed by one number
    input through monotone steps, the raw value is solved (secant on the fitted pipeline's own transform)
    so that the column equals the float64 threshold, the float32 it rounds to, and the float32 below and
    above that; sklearn casts to float32 and compares with the float64 threshold, so these rows tell a
    correct threshold mapping from an off-by-one-float32 one.
    """
    from streamscore_export.exporter import feature_width

    col_input: dict[int, str] = {}
    j = 0
    for f in manifest["features"]:
        w = feature_width(f)
        ops = [s["op"] for s in f["steps"]]
        if w == 1 and "input" in f and schema[f["input"]].type == "number" and \
                set(ops) <= {"impute", "standard", "robust", "minmax", "log1p"}:
            col_input[j] = f["input"]
        j += w
    splits = []
    for t in trees:
        tr, frontier = t.tree_, [0]
        for _ in range(levels):
            nxt = []
            for nd in frontier:
                if tr.children_left[nd] == -1:
                    continue
                f, thr = int(tr.feature[nd]), float(tr.threshold[nd])
                if f in col_input and math.isfinite(thr) and (f, thr) not in splits:
                    splits.append((f, thr))
                nxt += [tr.children_left[nd], tr.children_right[nd]]
            frontier = nxt
    splits = splits[:limit]
    prep = model[:-1]

    def column(values: np.ndarray, cols: list[int], inputs: list[str]) -> np.ndarray:
        evs = [dict(base, **{inp: float(v)}) for v, inp in zip(values, inputs)]
        X = np.asarray(prep.transform(schema.frame(evs)), dtype=np.float64)
        return X[np.arange(len(evs)), cols]

    targets, cols, inputs, what = [], [], [], []
    for f, thr in splits:
        c = np.float32(thr)
        for v, w in ((thr, "on the float64 threshold"), (float(c), "on float32(threshold)"),
                     (float(np.nextafter(c, np.float32(-np.inf))), "one float32 below float32(threshold)"),
                     (float(np.nextafter(c, np.float32(np.inf))), "one float32 above float32(threshold)")):
            targets.append(v)
            cols.append(f)
            inputs.append(col_input[f])
            what.append(f"{col_input[f]} puts column {manifest_column(manifest, f)} {w} {thr!r}")
    if not targets:
        return [], []
    targets = np.array(targets)
    v0 = np.array([float(base[i]) for i in inputs])
    v1 = v0 * 1.5 + 1.0
    y0, y1 = column(v0, cols, inputs) - targets, column(v1, cols, inputs) - targets
    for _ in range(30):  # secant: the steps are affine or log1p, a few iterations reach the last bits
        step = np.where(y1 != y0, y1 * (v1 - v0) / np.where(y1 != y0, y1 - y0, 1.0), 0.0)
        v0, y0 = v1, y1
        v1 = v1 - step
        y1 = column(v1, cols, inputs) - targets
        if not np.any(step):
            break
    evs, notes = [], []
    for v, inp, w in zip(v1, inputs, what):
        for k, vv in enumerate((v, math.nextafter(v, -math.inf), math.nextafter(v, math.inf))):
            evs.append(dict(base, **{inp: vv}))
            notes.append(w + ("" if k == 0 else " (one float64 step of the input away)"))
    return evs, notes


def manifest_column(manifest: dict, j: int) -> str:
    from streamscore_export.exporter import column_names

    return [n for f in manifest["features"] for n in column_names(f)][j]


def fraud_sklearn(name: str, estimator, first_trees: Callable, describe: Callable) -> Example:
    """The fraud example's pipeline, data and events with a scikit-learn tree model in XGBoost's place.

    ``first_trees(estimator)`` gives its first fitted trees (for the near-threshold events);
    ``describe(estimator, metrics)`` the README's text about the model, from its first line to
    before "Reference rows".
    """
    from sklearn.base import clone
    from streamscore_export import build_manifest

    xgb_ex = fraud()
    _, y = fraud_data.generate(20000, seed=1)
    test_events, y_test = fraud_data.generate(3000, seed=3, first_id=20000)
    model = clone(xgb_ex.model).set_params(model=estimator)
    model.fit(xgb_ex.train_frame, y)
    p = model.predict_proba(xgb_ex.schema.frame(test_events))[:, 1]
    metrics = {"test_rows": len(test_events), "test_fraud_rate": round(float(y_test.mean()), 4),
               "test_auc": round(float(roc_auc_score(y_test, p)), 4), "flagged_at_0.5": int((p > 0.5).sum())}
    out = policy.binary(["Low Risk", "High Risk"], [(0.5, "High Risk")], "Low Risk")
    manifest = build_manifest(model, name=name, schema=xgb_ex.schema, output=out)
    est = model[-1]
    near, near_notes = near_threshold_events(model, xgb_ex.schema, manifest, dict(test_events[0]), first_trees(est))
    what = "trees" if name == "fraud-rf" else "stages"
    readme = describe(est, metrics) + f"""
Reference rows: the `fraud` example's rows (edge cases, held-out transactions) plus {len(near)} rows whose
numeric model columns land on, and one float32 step either side of, the top split thresholds of the first
five {what}.

Decision: score (probability of fraud) > 0.5 -> "High Risk", else "Low Risk".
"""
    return Example(name, f"card-transaction fraud, scikit-learn {type(est).__name__} on the fraud pipeline",
                   model, xgb_ex.schema, out, xgb_ex.train_frame, xgb_ex.events + near,
                   xgb_ex.notes + near_notes, readme, metrics)


def fraud_rf() -> Example:
    """The fraud example's pipeline and events with a scikit-learn RandomForestClassifier."""
    from sklearn.ensemble import RandomForestClassifier

    def describe(rf, metrics) -> str:
        return f"""The `fraud` example's events, schema and feature pipeline (see `examples/fraud/README.md`)
with a scikit-learn `RandomForestClassifier` instead of XGBoost: bundle kind `sklearn_forest`, the trees'
arrays in `model.json` (docs/bundle.md, "The scikit-learn model file").

## Model

RandomForestClassifier: {rf.n_estimators} trees, max depth {rf.max_depth}, min_samples_leaf
{rf.min_samples_leaf}, {sum(e.tree_.node_count for e in rf.estimators_)} nodes in all, trained on the same
20,000 synthetic transactions as `fraud`. Held-out 3,000 transactions: fraud rate
{metrics['test_fraud_rate']}, ROC AUC {metrics['test_auc']}. The score is `predict_proba`: the trees' class
fractions averaged in float64; the Go side reproduces it bit for bit.

Missing values never reach the forest here (the pipeline imputes every column; `log1p` of a distance
below -1 is the exception: a NaN column, which goes down each node's `missing_go_to_left`, as scikit-learn
does). A model column beyond float32's range is refused by scikit-learn and rejected by the bundle
(`not_finite`).
"""
    return fraud_sklearn(
        "fraud-rf", RandomForestClassifier(n_estimators=50, max_depth=10, min_samples_leaf=5, random_state=0, n_jobs=1),
        lambda rf: rf.estimators_[:5], describe)


def fraud_gb() -> Example:
    """The fraud example's pipeline and events with a scikit-learn GradientBoostingClassifier."""
    from sklearn.ensemble import GradientBoostingClassifier

    def describe(gb, metrics) -> str:
        return f"""The `fraud` example's events, schema and feature pipeline (see `examples/fraud/README.md`)
with a scikit-learn `GradientBoostingClassifier` instead of XGBoost: bundle kind
`sklearn_gradient_boosting`, the stages' trees in `model.json` (docs/bundle.md, "The scikit-learn model
file").

## Model

GradientBoostingClassifier: {gb.n_estimators_} stages of one regression tree, max depth {gb.max_depth},
learning rate {gb.learning_rate}, loss `log_loss`, init the class prior; {sum(e.tree_.node_count for e in
gb.estimators_[:, 0])} nodes in all, trained on the same 20,000 synthetic transactions as `fraud`. Held-out
3,000 transactions: fraud rate {metrics['test_fraud_rate']}, ROC AUC {metrics['test_auc']}. The score is
`predict_proba`: the init's log-odds plus the learning rate times each stage's leaf value,
summed in float64 in stage order, then scipy's `expit`; the Go side reproduces it bit for bit.

Missing values: GradientBoosting refuses NaN input, and so does the bundle. The pipeline imputes every
column, except that `log1p` of a distance below -1 is NaN: scikit-learn refuses that row ("Input X
contains NaN") and the bundle rejects it (`not_finite`, a NaN the pipeline computed from a present
input). A model column beyond float32's range is refused too (`not_finite`).
"""
    return fraud_sklearn(
        "fraud-gb", GradientBoostingClassifier(n_estimators=60, max_depth=3, learning_rate=0.1, random_state=0),
        lambda gb: gb.estimators_[:5, 0], describe)


EXAMPLES: dict[str, Callable[[], Example]] = {
    "fraud": fraud,
    "iris": iris,
    "iris-xgb": iris_xgb,
    "breast-cancer": breast_cancer,
    "churn": churn,
    "risk-rule": risk_rule,
    "risk-mlp": risk_mlp,
    "diabetes-xgb": diabetes_xgb,
    "support-calls-poisson": support_calls_poisson,
    "bike-demand": bike_demand,
    "churn-lgbm": churn_lgbm,
    "churn-hgb": churn_hgb,
    "fraud-rf": fraud_rf,
    "fraud-gb": fraud_gb,
}


# ---------------------------------------------------------------------------


def self_check(ex: Example, manifest: dict, rows: list[dict], out: Path) -> dict:
    """The bundle, evaluated by streamscore_export.evaluate, must reproduce the reference rows."""
    X, rejects = evaluate.features(manifest, [r["event"] for r in rows])
    live = [i for i, r in enumerate(rejects) if r is None]
    if live:  # a model output that is not finite is rejected (not_finite), as the Go Scorer does
        for i, p in zip(live, evaluate.predict(manifest, X[live], out)):
            if not np.isfinite(p).all():
                rejects[i] = "not_finite"
    ok = [i for i, r in enumerate(rows) if "reject" not in r]
    for i, r in enumerate(rows):
        if r.get("reject") != rejects[i]:
            raise AssertionError(f"{ex.name} row {i}: reference reject={r.get('reject')!r}, "
                                 f"bundle reject={rejects[i]!r} ({r.get('note')})")
    F = np.array([rows[i]["features"] for i in ok], dtype=np.float64)
    Xb = X[ok]
    same_nan = np.array_equal(np.isnan(F), np.isnan(Xb))
    feat_diff = float(np.nanmax(np.abs(F - Xb))) if F.size else 0.0
    if not same_nan or feat_diff != 0.0:
        bad = np.argwhere(~((F == Xb) | (np.isnan(F) & np.isnan(Xb))))[:5]
        raise AssertionError(f"{ex.name}: bundle features differ from sklearn transform at {bad.tolist()} "
                             f"(max diff {feat_diff})")
    S = np.array([rows[i]["scores"] for i in ok], dtype=np.float64)
    P = evaluate.predict(manifest, Xb, out)
    score_diff = float(np.max(np.abs(S - P) / np.maximum(np.abs(S), 1.0)))  # relative above 1
    kind = manifest["model"]["kind"]
    tol = 0.0 if kind == "xgboost" else mlp_tolerance(manifest, out) if kind == "mlp" else 1e-12
    if score_diff > tol:
        raise AssertionError(f"{ex.name}: bundle scores differ from the library's by {score_diff}")
    return {"rows": len(rows), "rejects": len(rows) - len(ok), "feature_max_abs_diff": feat_diff,
            "score_max_abs_diff": score_diff}


def mlp_tolerance(manifest: dict, out: Path) -> float:
    """numpy against the library: float32 networks within docs/bundle.md's 1e-5, float64 ones within 1e-12."""
    return 1e-5 if mlp_model.read(out, manifest["model"])["dtype"] == "float32" else 1e-12


def build(name: str, out_root: Path) -> dict:
    t0 = time.time()
    ex = EXAMPLES[name]()
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("bundle.json", "model.json", "model.txt", "histgb.json", "reference.jsonl", "README.md"):
        (out / stale).unlink(missing_ok=True)
    manifest = export_bundle(ex.model, out, name=ex.name, schema=ex.schema, output=ex.output,
                             description=ex.description, train_frame=ex.train_frame)
    rows = reference_rows(ex.model, ex.schema, ex.output, ex.events, ex.notes)
    check = self_check(ex, manifest, rows, out)
    manifest = write_reference(out, manifest, rows)  # bundle.json records the file's rows and sha256
    n_cols = sum(len(r["features"]) for r in rows[:0]) or next(len(r["features"]) for r in rows if "features" in r)
    labels: dict[str, int] = {}
    for r in rows:
        if "label" in r:
            labels[str(r["label"])] = labels.get(str(r["label"]), 0) + 1
    m = manifest["model"]
    model_desc = (f"linear, link {m['link']}" if m["kind"] == "linear"
                  else mlp_model.describe(mlp_model.read(out, m)) if m["kind"] == "mlp"
                  else MODEL_DESC[m["kind"]](out / m["file"]) if m["kind"] in MODEL_DESC
                  else sklearn_trees.describe(m, out) if m["kind"] in sklearn_trees.KINDS
                  else f"XGBoost {json.loads(xgb.Booster(model_file=str(out / 'model.json')).save_config())['learner']['objective']['name']}")
    header = f"""# {ex.name}

{ex.description}.

| | |
|---|---|
| bundle | `bundle.json`{f" + `{m['file']}`" if 'file' in m else ''} (format_version {manifest['format_version']}) |
| model | {model_desc} |
| inputs | {', '.join(i['name'] for i in manifest['inputs'])} |
| model columns | {n_cols} (from {len(manifest['features'])} feature entries) |
| reference rows | {check['rows']} ({check['rejects']} rejected by the bundle) |
| reference labels | {', '.join(f'{k}: {v}' for k, v in sorted(labels.items()))} |
| regenerate | `python train/make_examples.py {ex.name}` (seeded; the last digits of floats can differ on another machine) |

"""
    footer = """
## Reference rows

`reference.jsonl`: one JSON object per line: `event` (raw event as a producer sends it;
fields may be absent or null), `scores` (the training library's own output for that row,
called on that one row: `predict_proba` for classifiers, `predict` for regressors; full
float64 repr; XGBoost outputs are float32 values), `label` (the bundle's decision policy
applied to those scores), `features` (the sklearn pipeline's transform output for the
row, i.e. the model's input columns; NaN as null), `note` (edge cases), or `reject` (the
DLQ reason) instead of scores/label/features.
"""
    (out / "README.md").write_text(header + ex.readme + footer)
    summary = {"example": name, **check, "model_columns": n_cols, **ex.metrics, "labels": labels,
               "seconds": round(time.time() - t0, 1)}
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", help=f"examples to build (default all: {', '.join(EXAMPLES)})")
    ap.add_argument("--out", default=str(REPO / "examples"), help="output root (default examples/)")
    args = ap.parse_args(argv)
    names = args.names or list(EXAMPLES)
    for n in names:
        if n not in EXAMPLES:
            ap.error(f"unknown example {n!r}; known: {', '.join(EXAMPLES)}")
    for n in names:
        print(json.dumps(build(n, Path(args.out))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
