"""Synthetic telco customers for the `churn` example.

Event fields: customer_id (string), tenure_months (number, whole months 0-72),
monthly_charges (number), total_charges (number), contract (month-to-month |
one-year | two-year), internet_service (dsl | fiber | none), payment_method
(electronic-check | mailed-check | bank-transfer | credit-card, rarely crypto or
voucher), senior_citizen (bool), support_calls (number, last 90 days),
last_payment (RFC 3339 UTC timestamp).

Churn rule: score = -1.0
    +1.5 if contract is month-to-month, -1.0 if two-year
    -0.03 * tenure_months
    +0.015 * (monthly_charges - 60)
    +0.4 * support_calls - 0.6
    +0.5 if internet_service is fiber
    +0.6 if payment_method is electronic-check
    +0.3 if senior_citizen
and the customer churns with probability 1 / (1 + exp(-score)).

Training data blanks 3 % of tenure_months, total_charges, support_calls,
internet_service and senior_citizen (absent or null) to teach imputation.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

import synth

CONTRACTS = ["month-to-month", "one-year", "two-year"]
CONTRACT_P = [0.55, 0.25, 0.20]
INTERNET = ["dsl", "fiber", "none"]
INTERNET_P = [0.35, 0.45, 0.20]
INTERNET_CHARGE = {"none": (25.0, 5.0), "dsl": (55.0, 10.0), "fiber": (85.0, 15.0)}
PAYMENTS = ["electronic-check", "mailed-check", "bank-transfer", "credit-card", "crypto", "voucher"]
PAYMENT_P = [0.33, 0.22, 0.22, 0.21, 0.01, 0.01]
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
BLANKABLE = ["tenure_months", "total_charges", "support_calls", "internet_service", "senior_citizen"]


def churn_score(ev: dict) -> float:
    s = -1.0
    if ev["contract"] == "month-to-month":
        s += 1.5
    elif ev["contract"] == "two-year":
        s -= 1.0
    s -= 0.03 * ev["tenure_months"]
    s += 0.015 * (ev["monthly_charges"] - 60.0)
    s += 0.4 * ev["support_calls"] - 0.6
    if ev["internet_service"] == "fiber":
        s += 0.5
    if ev["payment_method"] == "electronic-check":
        s += 0.6
    if ev["senior_citizen"]:
        s += 0.3
    return s


def generate(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    events, labels = [], []
    for i in range(n):
        internet = INTERNET[rng.choice(3, p=INTERNET_P)]
        mu, sd = INTERNET_CHARGE[internet]
        monthly = round(max(10.0, float(rng.normal(mu, sd))), 2)
        tenure = int(rng.integers(0, 73))
        total = round(tenure * monthly * float(rng.uniform(0.9, 1.05)), 2)
        ts = START + dt.timedelta(seconds=int(rng.integers(0, 90 * 86400)))
        ev = {
            "customer_id": f"cust-{i:06d}",
            "tenure_months": tenure,
            "monthly_charges": monthly,
            "total_charges": total,
            "contract": CONTRACTS[rng.choice(3, p=CONTRACT_P)],
            "internet_service": internet,
            "payment_method": PAYMENTS[rng.choice(len(PAYMENTS), p=PAYMENT_P)],
            "senior_citizen": bool(rng.random() < 0.16),
            "support_calls": int(rng.poisson(1.5)),
            "last_payment": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        p = 1.0 / (1.0 + math.exp(-churn_score(ev)))
        labels.append(int(rng.random() < p))
        events.append(ev)
    return events, np.asarray(labels)


def blank_some(events: list[dict], seed: int, rate: float = 0.03, fields=BLANKABLE) -> list[dict]:
    """Copies of the events with `rate` of each of `fields` removed or set to null."""
    return synth.blank_some(events, seed, rate, fields)
