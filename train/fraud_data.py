"""Synthetic card transactions for the `fraud` example (and the Go demo generator).

Event (JSON), exactly these fields:

    transaction_id         string   "txn-00000042"
    card_id                string   "card-01234" (the Kafka key)
    amount                 number   2 decimals
    avg_amount_30d         number   2 decimals, the card's 30-day average amount
    merchant_category      string   grocery|restaurant|travel|electronics|fuel|online|pharmacy|entertainment
    country                string   US|GB|DE|FR|CA|IN|BR|NG
    card_present           bool
    distance_from_home_km  number   1 decimal
    txn_count_24h          number   whole number
    timestamp              string   RFC 3339 UTC, whole seconds, "2026-01-05T13:45:12Z"

How one event is drawn (all draws independent; a Go generator can follow this
with its own random source -- only the distributions matter, not the numbers):

    card_id            uniform over card-00000 .. card-04999
    timestamp          uniform second in [2026-01-01T00:00:00Z, 2026-04-01T00:00:00Z)
    merchant_category  grocery .25, restaurant .18, online .15, fuel .12, pharmacy .08,
                       electronics .08, entertainment .07, travel .07
    country            US .55, GB .10, DE .08, CA .08, FR .07, IN .05, BR .04, NG .03
    card_present       false for online; otherwise true with probability .85
    avg_amount_30d     exp(Normal(ln 60, 0.5)), rounded to cents
    amount             avg_amount_30d * exp(Normal(0, 0.6)) with probability .95,
                       avg_amount_30d * Uniform(3, 15) otherwise (a spike); rounded to cents
    distance_from_home_km  exp(Normal(ln 8, 1.0)) with probability .95, Uniform(500, 9000)
                       otherwise; rounded to 0.1
    txn_count_24h      Poisson(3), plus Uniform{8..20} with probability .03

The fraud rule (the label; the model learns it from data). Add up a risk score:

    start at -6.0
    +2.5  if amount / avg_amount_30d > 3
    +1.5  if amount / avg_amount_30d > 8        (on top of the +2.5)
    +1.5  if the UTC hour of timestamp is 0, 1, 2, 3, 4 or 5
    +1.5  if merchant_category is electronics, travel or online
    +1.0  if card_present is false
    +2.0  if distance_from_home_km > 500
    +1.5  if txn_count_24h >= 10
    +1.0  if country is NG or BR

and the transaction is fraud with probability 1 / (1 + exp(-score)). About 4 % of
transactions are fraud. A generator that wants obvious "High Risk" events can
combine several of the triggers (e.g. an electronics purchase at 03:00 UTC, card
not present, 10x the usual amount, 2,000 km from home).

Training data only (not part of the event generator): after the label is drawn,
2 % of the values of avg_amount_30d, distance_from_home_km, txn_count_24h,
merchant_category and country are blanked, half as an absent field and half as
null, so the pipeline learns its imputation.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

import synth

MERCHANTS = ["grocery", "restaurant", "online", "fuel", "pharmacy", "electronics", "entertainment", "travel"]
MERCHANT_P = [0.25, 0.18, 0.15, 0.12, 0.08, 0.08, 0.07, 0.07]
COUNTRIES = ["US", "GB", "DE", "CA", "FR", "IN", "BR", "NG"]
COUNTRY_P = [0.55, 0.10, 0.08, 0.08, 0.07, 0.05, 0.04, 0.03]
RISKY_MERCHANTS = {"electronics", "travel", "online"}
RISKY_COUNTRIES = {"NG", "BR"}
N_CARDS = 5000
START = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
SPAN_SECONDS = 90 * 86400
BLANKABLE = ["avg_amount_30d", "distance_from_home_km", "txn_count_24h", "merchant_category", "country"]


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def risk_score(ev: dict) -> float:
    """The fraud rule's score for a complete event (see module doc)."""
    ratio = ev["amount"] / ev["avg_amount_30d"]
    hour = dt.datetime.fromisoformat(ev["timestamp"]).astimezone(dt.timezone.utc).hour
    s = -6.0
    if ratio > 3:
        s += 2.5
    if ratio > 8:
        s += 1.5
    if hour <= 5:
        s += 1.5
    if ev["merchant_category"] in RISKY_MERCHANTS:
        s += 1.5
    if not ev["card_present"]:
        s += 1.0
    if ev["distance_from_home_km"] > 500:
        s += 2.0
    if ev["txn_count_24h"] >= 10:
        s += 1.5
    if ev["country"] in RISKY_COUNTRIES:
        s += 1.0
    return s


def fraud_probability(ev: dict) -> float:
    return 1.0 / (1.0 + math.exp(-risk_score(ev)))


def generate(n: int, seed: int, first_id: int = 0) -> tuple[list[dict], np.ndarray]:
    """n complete events and their 0/1 fraud labels, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    events, labels = [], []
    for i in range(n):
        merchant = MERCHANTS[rng.choice(len(MERCHANTS), p=MERCHANT_P)]
        country = COUNTRIES[rng.choice(len(COUNTRIES), p=COUNTRY_P)]
        card_present = False if merchant == "online" else bool(rng.random() < 0.85)
        avg = round(float(math.exp(rng.normal(math.log(60.0), 0.5))), 2)
        if rng.random() < 0.95:
            amount = avg * math.exp(rng.normal(0.0, 0.6))
        else:
            amount = avg * rng.uniform(3.0, 15.0)
        amount = round(float(amount), 2)
        if rng.random() < 0.95:
            dist = math.exp(rng.normal(math.log(8.0), 1.0))
        else:
            dist = rng.uniform(500.0, 9000.0)
        count = int(rng.poisson(3.0))
        if rng.random() < 0.03:
            count += int(rng.integers(8, 21))
        ts = START + dt.timedelta(seconds=int(rng.integers(0, SPAN_SECONDS)))
        ev = {
            "transaction_id": f"txn-{first_id + i:08d}",
            "card_id": f"card-{int(rng.integers(0, N_CARDS)):05d}",
            "amount": amount,
            "avg_amount_30d": avg,
            "merchant_category": merchant,
            "country": country,
            "card_present": card_present,
            "distance_from_home_km": round(float(dist), 1),
            "txn_count_24h": count,
            "timestamp": rfc3339(ts),
        }
        labels.append(int(rng.random() < fraud_probability(ev)))
        events.append(ev)
    return events, np.asarray(labels)


def blank_some(events: list[dict], seed: int, rate: float = 0.02) -> list[dict]:
    """Copies of the events with `rate` of each BLANKABLE field removed or set to null."""
    return synth.blank_some(events, seed, rate, BLANKABLE)

if __name__ == "__main__":
    evs, y = generate(20000, seed=1)
    print(f"{len(evs)} events, fraud rate {y.mean():.4f}")
    print(evs[0])
