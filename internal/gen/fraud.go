package gen

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

var (
	merchants = []string{"grocery", "restaurant", "travel", "electronics", "fuel", "online", "pharmacy", "entertainment"}
	countries = []string{"US", "US", "US", "GB", "DE", "FR", "BR", "NG", "IN"}
)

// Fraud generates synthetic card transactions in the fraud example bundle's
// schema (examples/fraud): transaction_id, card_id (the Kafka key), amount,
// avg_amount_30d, merchant_category, country, card_present,
// distance_from_home_km, txn_count_24h, timestamp (RFC 3339), for a fixed
// population of cards. About 2% of them look like fraud: amounts far above
// the card's average, far from home, card not present, at night.
type Fraud struct {
	rng   *rand.Rand
	cards int
	seq   uint64
	avg   []float64 // per-card 30-day average amount
	runID string
}

// NewFraud returns a generator for the given number of cards, deterministic for a seed.
func NewFraud(seed uint64, cards int) *Fraud {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	avg := make([]float64, cards)
	for i := range avg {
		avg[i] = math.Round(math.Exp(3+rng.NormFloat64()*0.7)*100) / 100
	}
	return &Fraud{rng: rng, cards: cards, avg: avg, runID: strconv.FormatUint(seed, 36)}
}

// Next appends one event's JSON to dst and returns the key (card id) and the
// extended dst. The key is a fresh slice the caller may keep.
func (g *Fraud) Next(dst []byte, now time.Time) (key, value []byte) {
	g.seq++
	card := g.rng.IntN(g.cards)
	key = strconv.AppendInt([]byte("card-"), int64(card), 10)
	fraud := g.rng.Float64() < 0.02
	avg := g.avg[card]
	amount := avg * math.Exp(g.rng.NormFloat64()*0.5)
	dist := math.Abs(g.rng.NormFloat64()) * 15
	present := g.rng.Float64() < 0.7
	merchant := merchants[g.rng.IntN(len(merchants))]
	count := float64(g.rng.IntN(6))
	ts := now
	if fraud {
		amount *= 3 + g.rng.Float64()*10
		dist = 200 + g.rng.Float64()*3000
		present = g.rng.Float64() < 0.1
		if g.rng.Float64() < 0.5 {
			merchant = "electronics"
		} else {
			merchant = "online"
		}
		count += float64(3 + g.rng.IntN(10))
	}
	dst = append(dst, `{"transaction_id":"tx-`...)
	dst = append(dst, g.runID...)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, g.seq, 10)
	dst = append(dst, `","card_id":"`...)
	dst = append(dst, key...)
	dst = append(dst, `","amount":`...)
	dst = strconv.AppendFloat(dst, math.Round(amount*100)/100, 'f', -1, 64)
	dst = append(dst, `,"avg_amount_30d":`...)
	dst = strconv.AppendFloat(dst, avg, 'f', -1, 64)
	dst = append(dst, `,"merchant_category":"`...)
	dst = append(dst, merchant...)
	dst = append(dst, `","country":"`...)
	dst = append(dst, countries[g.rng.IntN(len(countries))]...)
	dst = append(dst, `","card_present":`...)
	dst = strconv.AppendBool(dst, present)
	dst = append(dst, `,"distance_from_home_km":`...)
	dst = strconv.AppendFloat(dst, math.Round(dist*10)/10, 'f', -1, 64)
	dst = append(dst, `,"txn_count_24h":`...)
	dst = strconv.AppendFloat(dst, count, 'f', -1, 64)
	dst = append(dst, `,"timestamp":"`...)
	dst = ts.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `"}`...)
	return key, dst
}

// Poisons are the PoisonKinds Poison makes: all of them.
func (g *Fraud) Poisons() []string { return PoisonKinds }

// PoisonKinds are the bad records Poison makes, named by the DLQ reason the
// service must give them.
var PoisonKinds = []string{"malformed", "missing_field", "not_finite", "wrong_type", "too_large"}

// Poison returns a record the service must send to the DLQ with the reason
// kind (one of PoisonKinds). tooLargeBytes sizes the too_large record.
func (g *Fraud) Poison(kind string, now time.Time, tooLargeBytes int) (key, value []byte) {
	key, good := g.Next(nil, now)
	switch kind {
	case "malformed":
		return key, good[:len(good)/2]
	case "missing_field":
		return key, []byte(`{"transaction_id":"poison-missing","card_id":"` + string(key) + `","merchant_category":"grocery"}`)
	case "not_finite":
		return key, []byte(`{"transaction_id":"poison-inf","card_id":"` + string(key) + `","amount":1e999,"avg_amount_30d":20,"merchant_category":"grocery","country":"US","card_present":true,"distance_from_home_km":1,"txn_count_24h":1,"timestamp":"` + now.UTC().Format(time.RFC3339) + `"}`)
	case "wrong_type":
		return key, []byte(`{"transaction_id":"poison-type","card_id":"` + string(key) + `","amount":"lots","avg_amount_30d":20,"merchant_category":"grocery","country":"US","card_present":true,"distance_from_home_km":1,"txn_count_24h":1,"timestamp":"` + now.UTC().Format(time.RFC3339) + `"}`)
	case "too_large":
		v := make([]byte, 0, tooLargeBytes+len(good))
		v = append(v, good[:len(good)-1]...)
		v = append(v, `,"padding":"`...)
		for len(v) < tooLargeBytes {
			v = append(v, 'x')
		}
		return key, append(v, `"}`...)
	}
	return key, good
}
