package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/batch"
	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/internal/gen"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/scoring"
)

// produceOptions are produce's own flags.
type produceOptions struct {
	bundle        string
	rate, count   int
	poison        float64
	missing       float64
	outside       float64
	tooLargeBytes int
	seed          uint64
	generator     string
	from, format  string
	httpURL       string
	batch         int
}

// The generators --generator names.
const (
	generatorAuto    = "auto"
	generatorFraud   = "fraud"
	generatorGeneric = "generic"
)

// httpDefaultRate is --rate for --http when it is not given: a stream of
// answers a person can read.
const httpDefaultRate = 10

func newProduceCmd() *cobra.Command {
	var (
		o     produceOptions
		flags *configFlags
	)
	cmd := &cobra.Command{
		Use:   "produce [BUNDLE] [--from FILE] [--http URL]",
		Short: "Load generator: events for a bundle into input.topic, or to /v1/predict with --http",
		Long: `produce sends events to input.topic on kafka.brokers or, with --http URL, to a
/v1/predict endpoint (streamscore serve, or run with http.predict), at --rate
events/s (0: as fast as they are taken) for --count events (0: until Ctrl-C).

Where the events come from:
  fraud     realistic card transactions in the fraud example's schema, a
            fixed population of cards, about 2% fraud-like
  generic   events made from a bundle's declared inputs: numbers inside the
            training range (most near the middle; --outside of them just
            outside it), categories from the declared ones (--outside of
            them unseen), timestamps within the last hour, bools, dotted
            paths as nested objects; each optional input missing at
            --missing. Departures a bundle would reject (an unseen category
            under unknown: reject, a value out of range under
            out_of_range: reject) are kept out, so clean events are scored.
            The key is written to input.key_field and an event id to
            input.event_id_field when they are set.
  --from    a JSON Lines file (one event per line, sent as it is; the
            reference.jsonl rows of a bundle are unwrapped to their event)
            or a CSV file with a header (each row turned into a JSON event
            by the bundle's input types, the CSV rules of streamscore
            score). With --count 0 the file is sent once; a larger --count
            starts it again from the top.
The bundle is BUNDLE, --bundle or model.bundle. --generator auto (the
default) picks fraud with no bundle or a bundle whose inputs the fraud
events carry (the fraud example), else generic.

--poison mixes bad events into generated ones (malformed JSON, a required
input missing, an infinite number, a wrong type, an oversized event: the
kinds the bundle's inputs allow), which the service must reject or send to
the DLQ. The Kafka key is the event's input.key_field, else a random entity
id (the card id for fraud; none for a file without input.key_field).

With --http, produce needs no Kafka: it sends one event per request (--batch
N: JSON arrays of N), one request at a time, and prints one line per event,
the prediction's label and score or the error's reason, then a summary:
events scored and rejected, HTTP status codes, connection errors, latency
p50/p99. Error answers and connection errors are counted, not fatal. URL
may be host:port; without a path it gets /v1/predict. --rate defaults to 10
there.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := flags.load()
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("rate") && o.httpURL != "" {
				o.rate = httpDefaultRate
			}
			if err := o.check(cmd); err != nil {
				return err
			}
			next, closeSrc, err := newEventSource(cfg, &o, args, cmd.Flags().Changed("outside"))
			if err != nil {
				return err
			}
			defer closeSrc()
			if o.httpURL != "" {
				target, err := predictURL(o.httpURL)
				if err != nil {
					return err
				}
				return produceHTTP(cmd.Context(), cmd.OutOrStdout(), target, next, o)
			}
			if err := cfg.needBrokers(); err != nil {
				return err
			}
			if cfg.Kafka.isEmbedded() {
				return fmt.Errorf("produce needs kafka.brokers (the embedded broker lives inside run/demo), or --http URL")
			}
			sent, err := produceLoad(cmd.Context(), cfg, next, o.rate, o.count, o.tooLargeBytes)
			fmt.Fprintf(cmd.OutOrStdout(), "produced %d records to %s\n", sent, cfg.Input.Topic)
			return err
		},
	}
	flags = addConfigFlags(cmd.Flags(), defaultConfig(), serviceSections...)
	f := cmd.Flags()
	f.StringVar(&o.bundle, "bundle", "", "bundle directory the events are for (or give it as the argument, or model.bundle)")
	f.IntVar(&o.rate, "rate", 5000, "events per second (0: unthrottled; with --http the default is 10)")
	f.IntVar(&o.count, "count", 0, "events in total (0: until Ctrl-C; with --from: the file once)")
	f.Float64Var(&o.poison, "poison", 0, "fraction of bad events mixed into generated ones (0..1)")
	f.Float64Var(&o.missing, "missing", 0, "generic: chance that an optional input is left out (0..1)")
	f.Float64Var(&o.outside, "outside", 0.02, "generic: chance that a number is outside its training range, or a category unseen (0..1)")
	f.IntVar(&o.tooLargeBytes, "too-large-bytes", 2<<20, "size of the oversized poison events")
	f.Uint64Var(&o.seed, "seed", 1, "generator seed (same seed, same events)")
	f.StringVar(&o.generator, "generator", generatorAuto, "auto, fraud or generic (see above)")
	f.StringVar(&o.from, "from", "", "replay events from this JSON Lines or CSV file instead of generating them")
	f.StringVar(&o.format, "format", "", "format of --from: csv or jsonl (default: from its extension)")
	f.StringVar(&o.httpURL, "http", "", "send the events to this /v1/predict URL instead of Kafka")
	f.IntVar(&o.batch, "batch", 0, "with --http: events per request, as a JSON array (0: one event per request, as an object)")
	return cmd
}

// check rejects flag combinations that would be ignored.
func (o *produceOptions) check(cmd *cobra.Command) error {
	for _, r := range []struct {
		flag string
		v    float64
	}{{"--poison", o.poison}, {"--missing", o.missing}, {"--outside", o.outside}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("%s %g: want a fraction between 0 and 1", r.flag, r.v)
		}
	}
	switch {
	case o.rate < 0 || o.count < 0:
		return fmt.Errorf("--rate %d, --count %d: want 0 or more", o.rate, o.count)
	case o.batch < 0:
		return fmt.Errorf("--batch %d: want 0 or more", o.batch)
	case o.batch > 0 && o.httpURL == "":
		return errors.New("--batch applies to --http requests")
	case !slices.Contains([]string{generatorAuto, generatorFraud, generatorGeneric}, o.generator):
		return fmt.Errorf("--generator %q: want auto, fraud or generic", o.generator)
	case o.format != "" && o.from == "":
		return errors.New("--format is the format of --from FILE")
	}
	if o.from != "" {
		for _, name := range []string{"poison", "missing", "outside", "generator", "seed", "too-large-bytes"} {
			if cmd.Flags().Changed(name) {
				return fmt.Errorf("--%s applies to generated events, not to --from", name)
			}
		}
	}
	return nil
}

// event is one event to send.
type event struct {
	key, value []byte
	poison     string // the poison kind; "" for a clean or replayed event
}

// eventSource returns the next event, io.EOF when there are no more.
type eventSource func(now time.Time) (event, error)

// generator is what produce needs of gen.Fraud and gen.Generic.
type generator interface {
	Next(dst []byte, now time.Time) (key, value []byte)
	Poison(kind string, now time.Time, tooLargeBytes int) (key, value []byte)
	Poisons() []string
}

// newEventSource builds the source the flags ask for: a replay of --from,
// or the fraud or the generic generator with the poison mix.
func newEventSource(cfg *Config, o *produceOptions, args []string, outsideSet bool) (eventSource, func(), error) {
	var b *scoring.Bundle
	if len(args) > 0 || o.bundle != "" || strings.TrimSpace(cfg.Model.Bundle) != "" {
		dir, err := scoreBundleDir(args, o.bundle, cfg.Model.Bundle)
		if err != nil {
			return nil, nil, err
		}
		if b, err = loadBundle(dir); err != nil {
			return nil, nil, err
		}
	}
	if o.from != "" {
		return replaySource(cfg, o, b)
	}
	kind := o.generator
	if kind == generatorAuto {
		kind = generatorGeneric
		if b == nil || gen.FraudFits(b.Layout()) {
			kind = generatorFraud
		}
	}
	var g generator
	switch kind {
	case generatorFraud:
		if o.missing > 0 || outsideSet {
			return nil, nil, errors.New("--missing and --outside apply to the generic generator; the fraud generator writes complete events (--generator generic for the fraud bundle)")
		}
		g = gen.NewFraud(o.seed, 5000)
	default:
		if b == nil {
			return nil, nil, errors.New("the generic generator needs a bundle: give it as the argument, with --bundle or model.bundle")
		}
		gg, err := gen.NewForBundle(b, o.seed, gen.Options{Missing: o.missing, Outside: o.outside,
			KeyField: cfg.Input.KeyField, EventIDField: cfg.Input.EventIDField})
		if err != nil {
			return nil, nil, err
		}
		g = gg
	}
	kinds := g.Poisons()
	pick := rand.New(rand.NewPCG(o.seed, 7))
	next := func(now time.Time) (event, error) {
		if o.poison > 0 && pick.Float64() < o.poison {
			kind := kinds[pick.IntN(len(kinds))]
			key, val := g.Poison(kind, now, o.tooLargeBytes)
			return event{key: key, value: val, poison: kind}, nil
		}
		key, val := g.Next(nil, now)
		return event{key: key, value: val}, nil
	}
	return next, func() {}, nil
}

// replaySource reads --from: once with --count 0, else round and round.
func replaySource(cfg *Config, o *produceOptions, b *scoring.Bundle) (eventSource, func(), error) {
	format := o.format
	if format == "" {
		format = batch.FormatOf(o.from)
	}
	if format == gen.ReplayCSV && b == nil {
		return nil, nil, errors.New("--from a CSV file needs the bundle (its input types): give it as the argument, with --bundle or model.bundle")
	}
	f, err := os.Open(o.from)
	if err != nil {
		return nil, nil, fmt.Errorf("--from: %w", err)
	}
	var layout *features.Layout // JSON Lines need none
	if b != nil {
		layout = b.Layout()
	}
	r, err := gen.NewReplay(f, layout, gen.ReplayOptions{Format: format, Loop: o.count > 0, KeyField: cfg.Input.KeyField})
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("--from %s: %w", o.from, err)
	}
	next := func(time.Time) (event, error) {
		key, val, err := r.Next()
		if err != nil && !errors.Is(err, io.EOF) {
			err = fmt.Errorf("--from %s: %w", o.from, err)
		}
		return event{key: key, value: val}, err
	}
	return next, func() { f.Close() }, nil
}

// waitTurn waits until event i is due at rate events/s since start; false
// when ctx ended first.
func waitTurn(ctx context.Context, start time.Time, i, rate int) bool {
	if rate > 0 {
		if wait := time.Until(start.Add(time.Duration(float64(i) / float64(rate) * float64(time.Second)))); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	return ctx.Err() == nil
}

// produceLoad writes count events (0: until ctx ends or the source does)
// at rate events/s to input.topic and waits until the broker acknowledged
// all of them.
func produceLoad(ctx context.Context, cfg *Config, next eventSource, rate, count, tooLargeBytes int) (int64, error) {
	opts, err := processor.ClientOpts(cfg.Kafka.KafkaConfig)
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(cfg.Input.Topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(int32(tooLargeBytes)+64<<10),
		kgo.BrokerMaxWriteBytes(int32(tooLargeBytes)*2+1<<20))...)
	if err != nil {
		return 0, fmt.Errorf("producer client: %w", err)
	}
	defer cl.Close()
	var acked atomic.Int64
	var firstErr atomic.Pointer[error]
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		acked.Add(1)
	}
	start := time.Now()
	var srcErr error
	for i := 0; count == 0 || i < count; i++ {
		if !waitTurn(ctx, start, i, rate) {
			break
		}
		now := time.Now()
		ev, err := next(now)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				srcErr = err
			}
			break
		}
		cl.Produce(context.Background(), &kgo.Record{Key: ev.key, Value: ev.value, Timestamp: now}, promise)
	}
	flushCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		return acked.Load(), errors.Join(srcErr, fmt.Errorf("flush: %w", err))
	}
	if e := firstErr.Load(); e != nil {
		return acked.Load(), errors.Join(srcErr, fmt.Errorf("produce: %w", *e))
	}
	return acked.Load(), srcErr
}

// predictURL checks --http: host:port means http://host:port, and a URL
// without a path gets /v1/predict.
func predictURL(raw string) (string, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--http %q: want an http:// or https:// URL, such as http://127.0.0.1:9464/v1/predict", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/predict"
	}
	return u.String(), nil
}

// httpTally counts what --http saw.
type httpTally struct {
	events, requests, scored, rejected, failed int
	poison, reasons, failures                  map[string]int
	status                                     map[int]int
	connErrors                                 int
	latency                                    []time.Duration
}

// answer is one element of a /v1/predict answer: a prediction record or an
// error object (docs/http.md).
type answer struct {
	Label *string  `json:"label"`
	Score *float64 `json:"score"`
	Error *struct {
		Reason string  `json:"reason"`
		Stage  string  `json:"stage"`
		Field  *string `json:"field"`
	} `json:"error"`
}

// produceHTTP sends the events to target, one request at a time, prints
// one line per event and a summary, and returns an error only when the
// source fails.
func produceHTTP(ctx context.Context, out io.Writer, target string, next eventSource, o produceOptions) error {
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	t := &httpTally{poison: map[string]int{}, reasons: map[string]int{}, failures: map[string]int{}, status: map[int]int{}}
	per := max(o.batch, 1)
	start := time.Now()
	var srcErr error
	evs := make([]event, 0, per)
	for done := false; !done && (o.count == 0 || t.events < o.count); {
		if !waitTurn(ctx, start, t.events, o.rate) {
			break
		}
		evs = evs[:0]
		for len(evs) < per && (o.count == 0 || t.events+len(evs) < o.count) {
			ev, err := next(time.Now())
			if err != nil {
				if !errors.Is(err, io.EOF) {
					srcErr = err
				}
				done = true
				break
			}
			evs = append(evs, ev)
		}
		if len(evs) == 0 {
			break
		}
		if !t.send(ctx, out, client, target, evs, o.batch > 0) {
			break // interrupted
		}
	}
	t.summary(out, target, time.Since(start))
	return srcErr
}

// send makes one request for evs and prints and counts its answers; false
// when ctx ended before the answer.
func (t *httpTally) send(ctx context.Context, out io.Writer, client *http.Client, target string, evs []event, asArray bool) bool {
	var body []byte
	if asArray {
		body = append(body, '[')
		for i, ev := range evs {
			if i > 0 {
				body = append(body, ',')
			}
			if json.Valid(ev.value) {
				body = append(body, ev.value...)
			} else {
				// Broken JSON would break the whole array: as a JSON string
				// the door still rejects it as malformed (not an object).
				s, _ := json.Marshal(string(ev.value))
				body = append(body, s...)
			}
		}
		body = append(body, ']')
	} else {
		body = evs[0].value
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	began := time.Now()
	resp, err := client.Do(req)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
	}
	if ctx.Err() != nil {
		return false
	}
	t.requests++
	t.latency = append(t.latency, time.Since(began))
	for _, ev := range evs {
		if ev.poison != "" {
			t.poison[ev.poison]++
		}
	}
	if err != nil {
		t.connErrors++
		t.print(out, evs, func(int) string { return "failed: " + err.Error() }, func(int) { t.fail("connection error") })
		return true
	}
	t.status[resp.StatusCode]++
	answers := make([]answer, len(evs))
	ok := false
	if asArray {
		ok = json.Unmarshal(data, &answers) == nil && len(answers) == len(evs)
	} else {
		ok = json.Unmarshal(data, &answers[0]) == nil
	}
	if !ok || (asArray && resp.StatusCode/100 != 2) {
		// the request failed as a whole: one answer for all its events
		var whole answer
		_ = json.Unmarshal(data, &whole)
		what := fmt.Sprintf("HTTP %d", resp.StatusCode)
		if whole.Error != nil {
			what += " " + whole.Error.Reason
		}
		t.print(out, evs, func(int) string { return "failed: " + what }, func(int) { t.fail(what) })
		return true
	}
	t.print(out, evs, func(i int) string { return t.count(answers[i], resp.StatusCode) }, func(int) {})
	return true
}

// count tallies one event's answer and says it in a few words.
func (t *httpTally) count(a answer, status int) string {
	switch {
	case a.Error != nil && a.Error.Stage != "request":
		t.rejected++
		t.reasons[a.Error.Reason]++
		s := "rejected " + a.Error.Reason
		if a.Error.Field != nil {
			s += " (" + *a.Error.Field + ")"
		}
		return s
	case a.Error != nil:
		what := fmt.Sprintf("HTTP %d %s", status, a.Error.Reason)
		t.fail(what)
		return "failed: " + what
	case a.Score != nil && status/100 == 2:
		t.scored++
		if a.Label != nil {
			return fmt.Sprintf("%-16s score %.6g", *a.Label, *a.Score)
		}
		return fmt.Sprintf("score %.6g", *a.Score)
	}
	what := fmt.Sprintf("HTTP %d with no prediction or error", status)
	t.fail(what)
	return "failed: " + what
}

func (t *httpTally) fail(what string) {
	t.failed++
	t.failures[what]++
}

// print writes one line per event: its number, its key and what became of it.
func (t *httpTally) print(out io.Writer, evs []event, say func(i int) string, tally func(i int)) {
	for i, ev := range evs {
		t.events++
		tally(i)
		key := string(ev.key)
		if key == "" {
			key = "-"
		} else if len(key) > 24 {
			key = key[:23] + "~"
		}
		fmt.Fprintf(out, "%6d  %-24s -> %s\n", t.events, key, say(i))
	}
}

// summary prints the totals of the run.
func (t *httpTally) summary(out io.Writer, target string, took time.Duration) {
	fmt.Fprintf(out, "sent %d events in %d requests to %s in %s (%.1f events/s): %d scored, %d rejected, %d failed\n",
		t.events, t.requests, target, took.Round(time.Millisecond), float64(t.events)/max(took.Seconds(), 1e-9),
		t.scored, t.rejected, t.failed)
	if len(t.poison) > 0 {
		fmt.Fprintf(out, "poison sent: %d (%s)\n", total(t.poison), counts(t.poison))
	}
	if len(t.reasons) > 0 {
		fmt.Fprintf(out, "rejected by reason: %s\n", counts(t.reasons))
	}
	if len(t.failures) > 0 {
		fmt.Fprintf(out, "failed: %s\n", counts(t.failures))
	}
	codes := make([]int, 0, len(t.status))
	for c := range t.status {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var st []string
	for _, c := range codes {
		st = append(st, fmt.Sprintf("%d x%d", c, t.status[c]))
	}
	if len(st) == 0 {
		st = append(st, "none")
	}
	fmt.Fprintf(out, "HTTP status: %s; connection errors: %d\n", strings.Join(st, ", "), t.connErrors)
	if len(t.latency) > 0 {
		slices.Sort(t.latency)
		fmt.Fprintf(out, "latency per request: p50 %s, p99 %s, max %s\n",
			quantile(t.latency, 0.50), quantile(t.latency, 0.99), quantile(t.latency, 1))
	}
}

// quantile is the nearest-rank q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)].Round(time.Microsecond)
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// counts lists "name n" pairs, in name order.
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		keys[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(keys, ", ")
}
