//go:build faults

package faults

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamscore/streamscore/internal/bundletest"
	"github.com/streamscore/streamscore/internal/kafkatest"
	"github.com/streamscore/streamscore/internal/proctest"
)

// The model lifecycle under a live stream: 20 reloads (two bad bundles
// among them), a shadow run and a canary run, each in both delivery modes.
const (
	eventsReload    = 150_000 // 25 s at reloadRate: 20 reloads fit in it
	reloadRate      = 6000
	reloads         = 20
	eventsLifecycle = 30_000 // shadow and canary runs: 6 s of stream
	canaryPercent   = 20
	hdrModel        = "streamscore-model"
	hdrShadowOf     = "streamscore-shadow-of"
	reloadToken     = "faults-reload-token"
)

// versionedCopy copies the suite's fraud bundle to dir/name with version
// v; each edit changes the copy afterwards (bundletest.Copy).
func versionedCopy(t *testing.T, dir, name, v string, edit ...func(dir string)) string {
	t.Helper()
	return bundletest.Copy(t, suite.bundle, dir, name, v, edit...)
}

func httpAddr(svc *service) string {
	addr, _ := svc.p.LogLine("streamscore running")["http"].(string)
	return addr
}

// scrapeValue is the value of the series line (name{labels}) in the
// instance's /metrics, or -1 when it is not there.
func scrapeValue(t *testing.T, svc *service, series string) float64 {
	t.Helper()
	_, metrics := proctest.HTTP(t, nil, "GET", "http://"+httpAddr(svc)+"/metrics", nil)
	for line := range strings.Lines(string(metrics)) {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// adminReload calls POST /admin/reload and returns the status.
func adminReload(t *testing.T, svc *service) int {
	t.Helper()
	resp, _ := proctest.HTTP(t, nil, "POST", "http://"+httpAddr(svc)+"/admin/reload", nil, "Authorization", "Bearer "+reloadToken)
	return resp.StatusCode
}

// swap is one "models swapped" log line.
type swap struct {
	version string    // the live version it made current
	at      time.Time // swapped_at: every prediction of it is scored at or after
}

func swapsOf(t *testing.T, p *proctest.Proc) []swap {
	t.Helper()
	var out []swap
	for _, m := range p.LogLines("models swapped") {
		ref, _ := m["live"].(string)
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["swapped_at"]))
		if err != nil {
			t.Fatalf("models swapped line without swapped_at: %v", m)
		}
		_, v, _ := strings.Cut(ref, "@")
		out = append(out, swap{version: v, at: at})
	}
	return out
}

// TestReload: 20 reloads while the stream runs at 6,000 events/s, half of
// them by flipping the `current` symlink (the watcher reloads), half by
// flipping it and calling POST /admin/reload; reload 7 points at a bundle
// that does not load and reload 14 at one that fails its reference check.
// Nothing is lost, exactly-once has no duplicates, every prediction names a
// version that was live (never a refused one) and was scored after that
// version's swap, per input partition the versions only move forward, and
// in exactly-once each transaction holds one version.
func TestReload(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "reload", mode, eventsReload, 0, uint64(60+i))
			models := filepath.Join(s.dir, "models")
			versionedCopy(t, models, "v00", "2.0.0")
			type step struct{ dir, version string } // version "": a bundle that must be refused
			plan := make([]step, reloads)
			good := 0
			for n := range plan {
				switch n + 1 {
				case 7:
					plan[n] = step{dir: versionedCopy(t, models, "broken", "9.9.9-broken", bundletest.TruncateManifest)}
				case 14:
					plan[n] = step{dir: versionedCopy(t, models, "badref", "9.9.9-badref", bundletest.SkewReference)}
				default:
					good++
					v := fmt.Sprintf("2.0.%d", good)
					plan[n] = step{dir: versionedCopy(t, models, fmt.Sprintf("v%02d", good), v), version: v}
				}
			}
			current := filepath.Join(models, "current")
			bundletest.Flip(t, current, "v00")
			tokenFile := filepath.Join(s.dir, "reload-token")
			os.WriteFile(tokenFile, []byte(reloadToken+"\n"), 0o600)
			s.extra = map[string]any{"model.bundle": current, "http.admin_token_file": tokenFile,
				"model.watch_debounce": "200ms"}
			refused := func(dir string) bool {
				real, _ := filepath.EvalSymlinks(dir)
				return real != "" && (strings.HasSuffix(real, "/broken") || strings.HasSuffix(real, "/badref"))
			}

			svc := s.startInstance("i1", true)
			s.startMonitor()
			s.startProducerAt(reloadRate)
			streamDur := time.Duration(eventsReload/reloadRate) * time.Second
			at := s.plan(reloads, 2*time.Second, streamDur-3*time.Second)
			for n, st := range plan {
				s.at(at[n])
				swapsBefore := len(swapsOf(t, svc.p))
				failsBefore := len(svc.p.LogLines("model reload failed; the old model keeps serving"))
				bundletest.Flip(t, current, filepath.Base(st.dir))
				how := "watch"
				if n%2 == 1 {
					how = "admin"
					adminReload(t, svc)
				}
				s.until(30*time.Second, fmt.Sprintf("reload %d (%s, current -> %s)", n+1, how, filepath.Base(st.dir)), func() error {
					if st.version == "" {
						for _, f := range svc.p.LogLines("model reload failed; the old model keeps serving")[failsBefore:] {
							if d, _ := f["dir"].(string); refused(d) && filepath.Base(d) == filepath.Base(st.dir) {
								return nil
							}
						}
						return fmt.Errorf("no failure logged for %s yet", st.dir)
					}
					if sw := swapsOf(t, svc.p); len(sw) > swapsBefore && sw[len(sw)-1].version == st.version {
						return nil
					}
					return fmt.Errorf("%s not swapped in yet", st.version)
				})
			}
			fails := svc.p.LogLines("model reload failed; the old model keeps serving")
			metricFails := scrapeValue(t, svc, `streamscore_model_load_failures_total{role="live"}`)
			swaps := swapsOf(t, svc.p)
			extra := fmt.Sprintf("reloads=%d swaps=%d refused=%d model_load_failures_total=%g", reloads, len(swaps)-1, len(fails), metricFails)
			for _, f := range fails {
				if d, _ := f["dir"].(string); !refused(d) {
					t.Errorf("a good bundle was refused: %v", f)
				}
			}
			if len(fails) < 2 || metricFails != float64(len(fails)) {
				t.Errorf("%d failure lines, model_load_failures_total{role=live} %g: want at least 2 (both bad bundles), the metric equal to the lines", len(fails), metricFails)
			}
			if len(swaps)-1 != reloads-2 {
				t.Errorf("%d swaps after the start, want %d (every good bundle once)", len(swaps)-1, reloads-2)
			}
			finish(t, s, nil, extra)
			checkVersions(t, s, swaps)
		})
	}
}

// startProducerAt is startProducer at another rate.
func (s *scenario) startProducerAt(r int) {
	s.t.Helper()
	cfg := s.writeConfig("")
	s.producer = s.start("produce", "produce", "--config", cfg, "--rate", strconv.Itoa(r), "--count", strconv.Itoa(s.events),
		"--seed", strconv.FormatUint(s.seed, 10))
	s.prodAt = s.producer.Started
}

// prediction is what the lifecycle checks read of an output record.
type prediction struct {
	id, version, header, key string
	shadowOf                 string // the streamscore-shadow-of header
	partition                int32
	offset                   int64
	scoredMs                 int64
}

// readPredictions reads topic completely (read_committed in exactly-once).
func readPredictions(t *testing.T, s *scenario, topic string, committed bool) []prediction {
	t.Helper()
	var out []prediction
	var v struct {
		ID      string `json:"event_id"`
		Model   string `json:"model"`
		Version string `json:"model_version"`
		Scored  int64  `json:"scored_time"`
	}
	readTopic(t, s.brokers, topic, committed, func(r *kgo.Record) {
		v.ID, v.Version = "", ""
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Errorf("%s %d/%d: not a prediction: %v", topic, r.Partition, r.Offset, err)
			return
		}
		out = append(out, prediction{id: v.ID, version: v.Version, header: headers(r)[hdrModel], key: string(r.Key),
			shadowOf: headers(r)[hdrShadowOf], partition: r.Partition, offset: r.Offset, scoredMs: v.Scored})
		if want := v.Model + "@" + v.Version; headers(r)[hdrModel] != want {
			t.Errorf("%s %d/%d: header %s %q, record says %q", topic, r.Partition, r.Offset, hdrModel, headers(r)[hdrModel], want)
		}
	})
	return out
}

// inputPositions maps each input's transaction_id to its partition and offset.
func inputPositions(t *testing.T, s *scenario) map[string]srcPos {
	t.Helper()
	pos := map[string]srcPos{}
	var id struct {
		ID string `json:"transaction_id"`
	}
	readTopic(t, s.brokers, s.input, false, func(r *kgo.Record) {
		if json.Unmarshal(r.Value, &id) == nil {
			pos[id.ID] = srcPos{r.Partition, r.Offset}
		}
	})
	return pos
}

// checkVersions checks every prediction's version against the swaps.
func checkVersions(t *testing.T, s *scenario, swaps []swap) {
	t.Helper()
	rank := map[string]int{}
	for i, sw := range swaps {
		rank[sw.version] = i
	}
	eos := s.mode == "exactly-once"
	preds := readPredictions(t, s, s.output, eos)
	src := inputPositions(t, s)
	type at struct {
		offset int64
		rank   int
	}
	perInput := map[int32][]at{}
	perOutput := map[int32][]prediction{}
	first := map[string]bool{}
	var unknown, early, backwards, mixedTxn, dups int
	var late time.Duration
	byVersion := map[string]int{}
	for _, p := range preds {
		byVersion[p.version]++
		r, ok := rank[p.version]
		if !ok {
			unknown++
			if unknown <= 5 {
				t.Errorf("prediction %s scored by version %s, which was never swapped in", p.id, p.version)
			}
			continue
		}
		if r > 0 && p.scoredMs < swaps[r].at.UnixMilli() {
			early++
			if early <= 5 {
				t.Errorf("prediction %s of version %s scored at %d, before its swap at %d", p.id, p.version, p.scoredMs, swaps[r].at.UnixMilli())
			}
		}
		if r+1 < len(swaps) {
			if d := time.Duration(p.scoredMs-swaps[r+1].at.UnixMilli()) * time.Millisecond; d > late {
				late = d
			}
		}
		perOutput[p.partition] = append(perOutput[p.partition], p)
		if first[p.id] {
			dups++ // a replay may be scored by a later version: only the first copy is ordered
			continue
		}
		first[p.id] = true
		if in, ok := src[p.id]; ok {
			perInput[in.partition] = append(perInput[in.partition], at{in.offset, r})
		}
	}
	for part, as := range perInput {
		sort.Slice(as, func(i, j int) bool { return as[i].offset < as[j].offset })
		for i := 1; i < len(as); i++ {
			if as[i].rank < as[i-1].rank {
				backwards++
				if backwards <= 5 {
					t.Errorf("input partition %d: offset %d scored by %s after offset %d by %s", part, as[i].offset,
						swaps[as[i].rank].version, as[i-1].offset, swaps[as[i-1].rank].version)
				}
			}
		}
	}
	txns := 0
	if eos {
		// Under read_committed, consecutive offsets of an output partition
		// are one transaction (a commit marker takes an offset between two).
		for part, ps := range perOutput {
			sort.Slice(ps, func(i, j int) bool { return ps[i].offset < ps[j].offset })
			for i := 1; i < len(ps); i++ {
				if ps[i].offset != ps[i-1].offset+1 {
					txns++
				} else if ps[i].version != ps[i-1].version {
					mixedTxn++
					if mixedTxn <= 5 {
						t.Errorf("output partition %d: offsets %d and %d in one transaction, versions %s and %s", part, ps[i-1].offset, ps[i].offset, ps[i-1].version, ps[i].version)
					}
				}
			}
		}
	}
	var vs []string
	for v, n := range byVersion {
		vs = append(vs, fmt.Sprintf("%s:%d", v, n))
	}
	sort.Strings(vs)
	t.Logf("counts: versions_seen=%d {%s} never_live=%d scored_before_swap=%d backwards=%d mixed_transactions=%d transactions_seen=%d first_copies=%d copies_beyond=%d max_after_successor=%s",
		len(byVersion), strings.Join(vs, " "), unknown, early, backwards, mixedTxn, txns, len(first), dups, late)
	if unknown+early+backwards+mixedTxn > 0 {
		t.Errorf("version checks failed: never_live=%d scored_before_swap=%d backwards=%d mixed_transactions=%d", unknown, early, backwards, mixedTxn)
	}
	if len(byVersion) < reloads/2 {
		t.Errorf("only %d versions scored anything: the reloads did not land while the stream ran", len(byVersion))
	}
}

// TestShadowRun: a shadow bundle beside the live one; the shadow topic
// must hold a prediction of the shadow's version for every input, with the
// input's key and both versions in the headers, and the output none of
// the shadow's.
func TestShadowRun(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "shadow", mode, eventsLifecycle, 0, uint64(70+i))
			shadowTopic := kafkatest.TopicWithConfigs(t, s.brokers, 6, nil)
			shadow := versionedCopy(t, s.dir, "shadow", "2.0.0-shadow")
			s.extra = map[string]any{"model.shadow": shadow, "model.shadow_topic": shadowTopic}
			svc := s.begin()
			s.waitProducer()
			s.waitDrained(3 * time.Minute)
			// The counters are the instance's: read them before finish stops it.
			agree := scrapeValue(t, svc, `streamscore_shadow_label_agreement_total{agree="true"}`)
			disagree := scrapeValue(t, svc, `streamscore_shadow_label_agreement_total{agree="false"}`)
			dropped := scrapeValue(t, svc, `streamscore_shadow_predictions_total{result="dropped"}`)
			failed := scrapeValue(t, svc, `streamscore_shadow_predictions_total{result="failed"}`)
			r := finish(t, s, nil, fmt.Sprintf("shadow_topic=%s", shadowTopic))

			keys := map[string]string{}
			for _, p := range readPredictions(t, s, s.output, mode == "exactly-once") {
				keys[p.id] = p.key
				if p.version != "1.0.0" {
					t.Errorf("output prediction %s of version %s: only the live model may write the output", p.id, p.version)
				}
			}
			got := map[string]int{}
			bad := 0
			side := readPredictions(t, s, shadowTopic, false)
			for _, p := range side {
				got[p.id]++
				if p.version != "2.0.0-shadow" || p.key != keys[p.id] || p.shadowOf != "fraud@1.0.0" {
					bad++
					if bad <= 5 {
						t.Errorf("shadow record %s: version %s key %q %s %q; want 2.0.0-shadow, the input's key %q, fraud@1.0.0",
							p.id, p.version, p.key, hdrShadowOf, p.shadowOf, keys[p.id])
					}
				}
			}
			missing, copies := 0, 0
			for id := range keys {
				switch n := got[id]; {
				case n == 0:
					missing++
				case n > 1:
					copies += n - 1
				}
			}
			t.Logf("counts: shadow_records=%d events_with_shadow=%d missing=%d copies_beyond_one=%d bad_records=%d agreement_true=%g agreement_false=%g dropped=%g failed=%g",
				len(side), len(got), missing, copies, bad, agree, disagree, dropped, failed)
			if missing > 0 || bad > 0 || len(side) == 0 {
				t.Errorf("shadow run: %d of %d events without a shadow prediction, %d bad shadow records", missing, len(keys), bad)
			}
			if agree < float64(r.valid) || disagree != 0 {
				t.Errorf("agreement true %g false %g, want >= %d and 0 (the shadow is the same model)", agree, disagree, r.valid)
			}
		})
	}
}

// TestCanaryRun: a canary bundle takes 20% of the keys; every key is
// scored by exactly one version, the one FNV-1a says, and the share of keys
// on the canary is within 3 points of 20%.
func TestCanaryRun(t *testing.T) {
	for i, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := newScenario(t, "canary", mode, eventsLifecycle, 0, uint64(80+i))
			canary := versionedCopy(t, s.dir, "canary", "2.0.0-canary")
			s.extra = map[string]any{"model.canary": canary, "model.canary_percent": canaryPercent}
			s.begin()
			finish(t, s, nil, fmt.Sprintf("canary_percent=%d", canaryPercent))

			perKey := map[string]map[string]int{}
			wrong := 0
			for _, p := range readPredictions(t, s, s.output, mode == "exactly-once") {
				if perKey[p.key] == nil {
					perKey[p.key] = map[string]int{}
				}
				perKey[p.key][p.version]++
				h := fnv.New32a()
				h.Write([]byte(p.key))
				want := "1.0.0"
				if p.key != "" && h.Sum32()%10000 < canaryPercent*100 {
					want = "2.0.0-canary"
				}
				if p.version != want {
					wrong++
				}
			}
			onCanary, split := 0, 0
			preds := map[string]int{}
			for _, vs := range perKey {
				if len(vs) != 1 {
					split++
				}
				if vs["2.0.0-canary"] > 0 {
					onCanary++
				}
				for v, n := range vs {
					preds[v] += n
				}
			}
			share := 100 * float64(onCanary) / float64(len(perKey))
			t.Logf("counts: keys=%d keys_on_canary=%d (%.2f%%, want %d%%) keys_on_two_versions=%d wrong_version=%d predictions_by_version=%v",
				len(perKey), onCanary, share, canaryPercent, split, wrong, preds)
			if split > 0 || wrong > 0 || math.Abs(share-canaryPercent) > 3 {
				t.Errorf("canary run: %d keys on two versions, %d predictions by the wrong version, %.2f%% of keys on the canary (want %d +- 3)",
					split, wrong, share, canaryPercent)
			}
		})
	}
}
