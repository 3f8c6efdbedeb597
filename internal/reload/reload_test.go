package reload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/streamscore/streamscore/internal/bundletest"
	"github.com/streamscore/streamscore/internal/proctest"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/scoring"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const fraudDir = "../../examples/fraud"

// twoVersions copies examples/fraud to dir/v1 and dir/v2 (versions 1 and
// 2) and returns dir/current, a symlink to v1.
func twoVersions(t *testing.T, dir string) (current string) {
	t.Helper()
	bundletest.Copy(t, fraudDir, dir, "v1", "1")
	bundletest.Copy(t, fraudDir, dir, "v2", "2")
	current = filepath.Join(dir, "current")
	bundletest.Flip(t, current, "v1")
	return current
}

func dropReference(dir string) { os.Remove(filepath.Join(dir, scoring.ReferenceFile)) }

// harness is a Reloader with its metrics, log, and the lineups applied.
type harness struct {
	r       *Reloader
	m       *Metrics
	log     *proctest.LogBuffer
	mu      sync.Mutex
	applied []*Lineup
	refuse  error // apply fails with it when set
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	h := &harness{m: NewMetrics(prometheus.NewRegistry()), log: &proctest.LogBuffer{}}
	opts.Metrics = h.m
	opts.Log = slog.New(slog.NewJSONHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	return h
}

func (h *harness) start(t *testing.T) *Lineup {
	t.Helper()
	first, err := h.r.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := h.r.Start(first, h.apply); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return first
}

func (h *harness) apply(lu *Lineup) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.refuse != nil {
		return h.refuse
	}
	h.applied = append(h.applied, lu)
	return nil
}

func (h *harness) failures(role string) float64 {
	return testutil.ToFloat64(h.m.LoadFailures.WithLabelValues(role))
}

func TestChecksumIsSha256sumOfTheFiles(t *testing.T) {
	dir := t.TempDir()
	plain := bundletest.Copy(t, fraudDir, dir, "plain", "1.0.0")
	got, err := Checksum(plain)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", "cd \"$1\" && LC_ALL=C sha256sum -- * | sha256sum", "bash", plain)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sha256sum: %v", err)
	}
	if want := "sha256:" + strings.Fields(string(out))[0]; got != want {
		t.Errorf("Checksum = %s, want %s (the documented sha256sum pipeline)", got, want)
	}

	// The same files in a Kubernetes volume's layout: top-level symlinks
	// into ..data, a symlink to a timestamped directory.
	vol := filepath.Join(dir, "volume")
	data := filepath.Join(vol, "..2026_01_01_00_00_00.1")
	if err := os.CopyFS(data, os.DirFS(plain)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Base(data), filepath.Join(vol, "..data")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(plain)
	for _, e := range entries {
		if err := os.Symlink(filepath.Join("..data", e.Name()), filepath.Join(vol, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{vol, data} {
		if sum, err := Checksum(p); err != nil || sum != got {
			t.Errorf("Checksum(%s) = %s, %v; want %s, the plain copy's", p, sum, err, got)
		}
	}
	real, err := realDir(vol)
	if err != nil || real != data {
		t.Errorf("realDir(volume) = %s, %v; want the ..data target %s", real, err, data)
	}

	if err := os.WriteFile(filepath.Join(plain, "model.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, _ := Checksum(plain); changed == got {
		t.Error("Checksum did not change with a file's content")
	}
}

// TestReload walks a directory of versions with a `current` symlink
// through good, broken and unchanged bundles: a bad bundle never becomes
// current, is counted and logged with its path and reason, and the old one
// stays.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"1", "2"} {
		bundletest.Copy(t, fraudDir, dir, "v"+v, v)
	}
	bundletest.Copy(t, fraudDir, dir, "broken", "9-broken", bundletest.TruncateManifest)
	bundletest.Copy(t, fraudDir, dir, "badref", "9-badref", bundletest.SkewReference)
	bundletest.Copy(t, fraudDir, dir, "noref", "3-noref", dropReference)
	bundletest.Copy(t, fraudDir, dir, "cutref", "9-cutref", bundletest.TruncateReference)
	current := filepath.Join(dir, "current")
	bundletest.Flip(t, current, "v1")
	ref, err := os.ReadFile(filepath.Join(fraudDir, scoring.ReferenceFile))
	if err != nil {
		t.Fatal(err)
	}
	refRows := scoring.DescribeReference(ref).Rows

	h := newHarness(t, Options{Initial: Config{Bundle: current, Watch: true, WatchDebounce: time.Second}})
	first := h.start(t)
	if first.Live.Bundle.Version != "1" || first.Live.Origin.Dir != filepath.Join(dir, "v1") ||
		!strings.HasPrefix(first.Live.Origin.Checksum, "sha256:") || first.Live.Origin.ReferenceRows == 0 {
		t.Fatalf("first lineup: version %s origin %+v; want 1 from %s with a checksum and reference rows",
			first.Live.Bundle.Version, first.Live.Origin, filepath.Join(dir, "v1"))
	}

	steps := []struct {
		target      string // current -> target ("" leaves it)
		wantVersion string
		wantSwap    bool
		wantFail    string // in the failure's error
	}{
		{"v2", "2", true, ""},
		{"", "2", false, ""}, // nothing changed
		{"broken", "2", false, "bundle.json"},
		{"badref", "2", false, "reference check"},
		{"v1", "1", true, ""},
		// A bundle without reference rows where the model had them: most
		// likely one still being copied, reference.jsonl last.
		{"noref", "1", false, "no reference.jsonl, where the live model it would replace (fraud@1) was checked"},
		// A copy cut short at a line boundary: the rows left are good, the
		// count bundle.json records is not theirs.
		{"cutref", "1", false, fmt.Sprintf("%s has %d rows where bundle.json records %d", scoring.ReferenceFile, refRows/2, refRows)},
	}
	fails := 0.0
	for _, st := range steps {
		if st.target != "" {
			bundletest.Flip(t, current, st.target)
		}
		out := h.r.Reload(context.Background(), "test")
		live := h.r.Current().Live
		if got, want := testutil.ToFloat64(h.m.LoadFailing.WithLabelValues("live")), map[bool]float64{true: 1}[st.wantFail != ""]; got != want {
			t.Errorf("current -> %s: model_load_failing{role=live} = %v, want %v", st.target, got, want)
		}
		if got, want := exportedLineup(t, h.m), "live="+live.Bundle.Version+" canary=- shadow=-"; got != want {
			t.Errorf("current -> %s: model_info and model_loaded_timestamp_seconds say %s, want %s", st.target, got, want)
		}
		if live.Bundle.Version != st.wantVersion || out.Swapped != st.wantSwap {
			t.Errorf("current -> %s: live %s swapped %v; want %s, %v (failures %v)", st.target,
				live.Bundle.Version, out.Swapped, st.wantVersion, st.wantSwap, out.Failures)
		}
		if st.wantFail == "" {
			if len(out.Failures) != 0 {
				t.Errorf("current -> %s: failures %v, want none", st.target, out.Failures)
			}
			continue
		}
		fails++
		if len(out.Failures) != 1 || !strings.Contains(out.Failures[0].Err.Error(), st.wantFail) ||
			out.Failures[0].Dir != filepath.Join(dir, st.target) || out.Failures[0].Source != current {
			t.Errorf("current -> %s: failures %v, want one naming %s and %q", st.target, out.Failures, filepath.Join(dir, st.target), st.wantFail)
		}
		if got := h.failures("live"); got != fails {
			t.Errorf("current -> %s: model_load_failures_total{role=live} = %v, want %v", st.target, got, fails)
		}
	}
	if got := testutil.ToFloat64(h.m.Swaps); got != 2 {
		t.Errorf("model_swaps_total = %v, want 2", got)
	}
	for _, lu := range h.applied {
		if v := lu.Live.Bundle.Version; strings.HasPrefix(v, "9-") || v == "3-noref" {
			t.Errorf("broken bundle %s was applied", v)
		}
	}
	log := h.log.String()
	for _, want := range []string{
		`"msg":"model reload failed; the old model keeps serving","role":"live","bundle":"` + current + `","dir":"` + filepath.Join(dir, "broken") + `"`,
		`"msg":"model reload failed; the old model keeps serving","role":"live","bundle":"` + current + `","dir":"` + filepath.Join(dir, "badref") + `"`,
		`"msg":"models swapped","trigger":"test"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log has no line with %s; log:\n%s", want, log)
		}
	}

	// At start, and in place of a model without them, a bundle without
	// reference rows serves, with a warning (hand-written rule bundles).
	bundletest.Copy(t, fraudDir, dir, "noref2", "4-noref", dropReference)
	bundletest.Flip(t, current, "noref")
	h = newHarness(t, Options{Initial: Config{Bundle: current, WatchDebounce: time.Second}})
	if lu := h.start(t); lu.Live.Origin.ReferenceRows != 0 || lu.Live.Bundle.Version != "3-noref" {
		t.Errorf("start on noref: live %s with %d reference rows, want 3-noref with 0", lu.Live.Bundle.Version, lu.Live.Origin.ReferenceRows)
	}
	bundletest.Flip(t, current, "noref2")
	if out := h.r.Reload(context.Background(), "test"); !out.Swapped || len(out.Failures) != 0 {
		t.Errorf("noref -> noref2: %+v, want a swap", out)
	}
	if want := `"msg":"bundle has no reference.jsonl: it serves without a reference check"`; !strings.Contains(h.log.String(), want) {
		t.Errorf("log has no line with %s; log:\n%s", want, h.log.String())
	}
}

// TestReloadReadsTheConfig: a reload takes the model section as it is now:
// a canary and a shadow come and go, the canary share changes, a broken
// canary or a changed shadow topic keeps the role's old model, and a
// configuration that cannot be read counts as role config.
func TestReloadReadsTheConfig(t *testing.T) {
	dir := t.TempDir()
	v1 := bundletest.Copy(t, fraudDir, dir, "v1", "1")
	v2 := bundletest.Copy(t, fraudDir, dir, "v2", "2")
	broken := bundletest.Copy(t, fraudDir, dir, "broken", "9", bundletest.TruncateManifest)
	base := Config{Bundle: v1, ShadowTopic: "shadow", Watch: true, WatchDebounce: time.Second}
	var mu sync.Mutex
	now, readErr := base, error(nil)
	set := func(c Config, err error) { mu.Lock(); now, readErr = c, err; mu.Unlock() }
	h := newHarness(t, Options{Initial: base, Config: func() (Config, error) { mu.Lock(); defer mu.Unlock(); return now, readErr }})
	h.start(t)

	with := func(f func(*Config)) Config { c := base; f(&c); return c }
	steps := []struct {
		name     string
		cfg      Config
		err      error
		want     string // canary@percent / shadow, as lineupString prints
		failRole string
	}{
		{"canary added", with(func(c *Config) { c.Canary, c.CanaryPercent = v2, 20 }), nil, "live=1 canary=2@20 shadow=-", ""},
		{"canary share", with(func(c *Config) { c.Canary, c.CanaryPercent = v2, 50 }), nil, "live=1 canary=2@50 shadow=-", ""},
		{"canary broken", with(func(c *Config) { c.Canary, c.CanaryPercent = broken, 50 }), nil, "live=1 canary=2@50 shadow=-", "canary"},
		// The share was meant for the refused bundle: the kept canary keeps its own.
		{"canary broken, share raised", with(func(c *Config) { c.Canary, c.CanaryPercent = broken, 90 }), nil, "live=1 canary=2@50 shadow=-", "canary"},
		{"canary broken, share lowered", with(func(c *Config) { c.Canary, c.CanaryPercent = broken, 10 }), nil, "live=1 canary=2@10 shadow=-", "canary"},
		{"promote", with(func(c *Config) { c.Bundle = v2 }), nil, "live=2 canary=- shadow=-", ""},
		{"shadow added", with(func(c *Config) { c.Bundle, c.Shadow = v2, v1 }), nil, "live=2 canary=- shadow=1", ""},
		{"shadow topic changed", with(func(c *Config) { c.Bundle, c.Shadow, c.ShadowTopic = v2, v1, "other" }), nil, "live=2 canary=- shadow=1", "shadow"},
		{"unreadable config", base, errors.New("config file: yaml: line 3: bad"), "live=2 canary=- shadow=1", RoleConfig},
		{"roll back", base, nil, "live=1 canary=- shadow=-", ""},
		{"watch settings changed", with(func(c *Config) { c.WatchDebounce = time.Minute }), nil, "live=1 canary=- shadow=-", ""},
	}
	failing := map[string]bool{} // model_load_failing: the last attempt's failures; the bundles' kept when the config is unreadable
	for _, st := range steps {
		if st.failRole != RoleConfig {
			failing = map[string]bool{}
		}
		if st.failRole != "" {
			failing[st.failRole] = true
		}
		set(st.cfg, st.err)
		before := h.failures(st.failRole)
		out := h.r.Reload(context.Background(), "test")
		if got := lineupString(h.r.Current()); got != st.want {
			t.Errorf("%s: lineup %s, want %s (failures %v)", st.name, got, st.want, out.Failures)
		}
		if got, want := exportedLineup(t, h.m), regexp.MustCompile(`@\d+`).ReplaceAllString(st.want, "@?"); got != want {
			t.Errorf("%s: model_info and model_loaded_timestamp_seconds say %s, want %s", st.name, got, want)
		}
		for _, role := range failureRoles() {
			if got, want := testutil.ToFloat64(h.m.LoadFailing.WithLabelValues(role)), map[bool]float64{true: 1}[failing[role]]; got != want {
				t.Errorf("%s: model_load_failing{role=%s} = %v, want %v", st.name, role, got, want)
			}
		}
		if st.failRole == "" {
			if len(out.Failures) > 0 {
				t.Errorf("%s: failures %v, want none", st.name, out.Failures)
			}
			continue
		}
		if len(out.Failures) != 1 || out.Failures[0].Role != st.failRole || h.failures(st.failRole) != before+1 {
			t.Errorf("%s: failures %v (counter %v), want one of role %s", st.name, out.Failures, h.failures(st.failRole), st.failRole)
		}
	}
	const startOnly = `"msg":"model.watch and model.watch_debounce are read at start only: restart to change them","watch":true,"watch_debounce":"1s"`
	if n := strings.Count(h.log.String(), startOnly); n != 1 {
		t.Errorf("the log has %d lines with %s, want 1 (the last step's)", n, startOnly)
	}
}

func lineupString(lu *Lineup) string {
	s := "live=" + lu.Live.Bundle.Version
	if lu.Canary != nil {
		s += " canary=" + lu.Canary.Bundle.Version + "@" + itoa(lu.CanaryPercent)
	} else {
		s += " canary=-"
	}
	if lu.Shadow != nil {
		return s + " shadow=" + lu.Shadow.Bundle.Version
	}
	return s + " shadow=-"
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// exportedLineup is the lineup the model_info series describe, as
// lineupString prints it (the canary share as @?, which the metrics do not
// carry); it fails the test when model_loaded_timestamp_seconds does not
// have a series for exactly the roles model_info has, or a role has more
// than one model_info series.
func exportedLineup(t *testing.T, m *Metrics) string {
	t.Helper()
	versions := map[string][]string{}
	ch := make(chan prometheus.Metric, 16)
	go func() { m.ModelInfo.Collect(ch); close(ch) }()
	for mt := range ch {
		var pb dto.Metric
		if err := mt.Write(&pb); err != nil {
			t.Fatal(err)
		}
		labels := map[string]string{}
		for _, l := range pb.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		versions[labels["role"]] = append(versions[labels["role"]], labels["version"])
	}
	s := ""
	for _, role := range predict.Roles {
		v := versions[string(role)]
		loaded := testutil.ToFloat64(m.ModelLoaded.WithLabelValues(string(role))) > 0
		if len(v) > 1 || (len(v) == 1) != loaded {
			t.Errorf("role %s: model_info versions %v, model_loaded_timestamp_seconds set %v", role, v, loaded)
		}
		if len(v) == 0 {
			m.ModelLoaded.DeleteLabelValues(string(role)) // made by the look above
			s += " " + string(role) + "=-"
			continue
		}
		s += " " + string(role) + "=" + v[0]
		if role == predict.RoleCanary {
			s += "@?"
		}
	}
	return s[1:]
}

// TestStartFailures: a live bundle that fails is a start-up error; a
// canary or shadow that fails is left out of the first lineup and counted.
func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	v1 := bundletest.Copy(t, fraudDir, dir, "v1", "1")
	broken := bundletest.Copy(t, fraudDir, dir, "broken", "9", bundletest.TruncateManifest)
	h := newHarness(t, Options{Initial: Config{Bundle: broken, WatchDebounce: time.Second}})
	if _, err := h.r.Load(context.Background()); err == nil || !strings.Contains(err.Error(), broken) {
		t.Errorf("Load with a broken live bundle: %v, want an error naming %s", err, broken)
	}
	h = newHarness(t, Options{Initial: Config{Bundle: v1, Canary: broken, CanaryPercent: 10, Shadow: filepath.Join(dir, "missing"),
		ShadowTopic: "s", WatchDebounce: time.Second}})
	lu := h.start(t)
	if lu.Canary != nil || lu.Shadow != nil || lu.CanaryPercent != 0 {
		t.Errorf("first lineup %s, want the live model alone", lineupString(lu))
	}
	if h.failures("canary") != 1 || h.failures("shadow") != 1 {
		t.Errorf("failures canary %v shadow %v, want 1 each", h.failures("canary"), h.failures("shadow"))
	}
	doc := h.r.Doc()
	if doc.LastReload == nil || len(doc.LastReload.Failures) != 2 || !doc.LastReload.Swapped {
		t.Errorf("last reload %+v, want the start with two failures", doc.LastReload)
	}
}

// TestCheckAndApplyFailures: a bundle the doors cannot decode for, or a
// lineup the doors refuse, keeps the old model.
func TestCheckAndApplyFailures(t *testing.T) {
	dir := t.TempDir()
	current := twoVersions(t, dir)
	var refuseCheck bool
	h := newHarness(t, Options{Initial: Config{Bundle: current, WatchDebounce: time.Second}, Check: func(b *scoring.Bundle) error {
		if refuseCheck {
			return errors.New("input decoder (input.format avro): field amount: not in the writer schema")
		}
		return nil
	}})
	h.start(t)
	bundletest.Flip(t, current, "v2")
	refuseCheck = true
	if out := h.r.Reload(context.Background(), "test"); out.Swapped || len(out.Failures) != 1 || !strings.Contains(out.Failures[0].Err.Error(), "writer schema") {
		t.Errorf("check failure: %+v, want no swap and the decoder's error", out)
	}
	refuseCheck = false
	h.refuse = errors.New("pipeline: no")
	if out := h.r.Reload(context.Background(), "test"); out.Swapped || len(out.Failures) != 1 || !strings.Contains(out.Failures[0].Err.Error(), "swap: pipeline: no") {
		t.Errorf("apply failure: %+v, want no swap and the apply error", out)
	}
	if v := h.r.Current().Live.Bundle.Version; v != "1" {
		t.Errorf("live %s after the failures, want 1", v)
	}
	h.refuse = nil
	if out := h.r.Reload(context.Background(), "test"); !out.Swapped {
		t.Errorf("after the failures: %+v, want the swap to v2", out)
	}
}

// TestWatch: the watcher reloads after a `current` symlink flip, and after
// a Kubernetes volume swapped its ..data symlink.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	current := twoVersions(t, dir)

	vol := filepath.Join(dir, "volume")
	os.MkdirAll(vol, 0o755)
	for _, v := range []string{"1", "2"} {
		bundletest.Copy(t, fraudDir, vol, "..2026_0"+v, "k"+v)
	}
	bundletest.Flip(t, filepath.Join(vol, "..data"), "..2026_01")
	for _, name := range []string{"bundle.json", "model.json", "reference.jsonl", "README.md"} {
		os.Symlink(filepath.Join("..data", name), filepath.Join(vol, name))
	}

	for _, tc := range []struct {
		name, bundle string
		flip         func()
		before, want string
	}{
		{"current symlink", current, func() { bundletest.Flip(t, current, "v2") }, "1", "2"},
		{"kubernetes volume", vol, func() { bundletest.Flip(t, filepath.Join(vol, "..data"), "..2026_02") }, "k1", "k2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{Initial: Config{Bundle: tc.bundle, Watch: true, WatchDebounce: 50 * time.Millisecond}})
			h.start(t)
			if v := h.r.Current().Live.Bundle.Version; v != tc.before {
				t.Fatalf("first live %s, want %s", v, tc.before)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- h.r.Run(ctx) }()
			defer func() { cancel(); <-done }()
			// The watch is set up inside Run; a flip before it is Run's
			// check against Load (TestWatchSeesAChangeDuringStart), not an
			// event: flip once it watches.
			proctest.Eventually(t, 20*time.Second, "the watch set up", func() error {
				if !strings.Contains(h.log.String(), "model watch: watching") {
					return errors.New("no log line model watch: watching")
				}
				return nil
			})
			next := time.Now()
			proctest.Eventually(t, 20*time.Second, "a reload after the flip", func() error {
				if v := h.r.Current().Live.Bundle.Version; v != tc.want {
					if time.Now().After(next) {
						tc.flip()
						next = time.Now().Add(time.Second)
					}
					return fmt.Errorf("live %s, want %s; log:\n%s", v, tc.want, h.log.String())
				}
				return nil
			})
			if !strings.Contains(h.log.String(), `"trigger":"watch"`) {
				t.Errorf("no reload with trigger watch in the log:\n%s", h.log.String())
			}
		})
	}
}

// TestAdminHandler covers POST /admin/reload: the method, the answer of a
// good and of a failed reload. The token in front of it is internal/bearer's.
func TestAdminHandler(t *testing.T) {
	dir := t.TempDir()
	current := twoVersions(t, dir)
	bundletest.Copy(t, fraudDir, dir, "broken", "9", bundletest.TruncateManifest)
	h := newHarness(t, Options{Initial: Config{Bundle: current, WatchDebounce: time.Second}})
	h.start(t)

	for _, tc := range []struct {
		name   string
		method string
		target string // current -> target before the request
		code   int
		body   string
	}{
		{"GET", http.MethodGet, "", 405, "use POST"},
		{"reload", http.MethodPost, "v2", 200, `"swapped": true`},
		{"unchanged", http.MethodPost, "", 200, `"swapped": false`},
		{"broken", http.MethodPost, "broken", 422, `"role": "live"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.target != "" {
				bundletest.Flip(t, current, tc.target)
			}
			rec := httptest.NewRecorder()
			h.r.AdminHandler().ServeHTTP(rec, httptest.NewRequest(tc.method, RouteReload, nil))
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("got %d %s, want %d with %q", rec.Code, rec.Body, tc.code, tc.body)
			}
		})
	}
	if v := h.r.Current().Live.Bundle.Version; v != "2" {
		t.Errorf("live %s, want 2 (the broken bundle never serves)", v)
	}

	rec := httptest.NewRecorder()
	h.r.ModelsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, RouteModels, nil))
	var doc ModelsDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 {
		t.Fatalf("GET /v1/models: %d %s: %v", rec.Code, rec.Body, err)
	}
	m := doc.Models
	if len(m) != 1 || m[0].Role != string(predict.RoleLive) || m[0].Version != "2" || m[0].Dir != filepath.Join(dir, "v2") ||
		m[0].Checksum != h.r.Current().Live.Origin.Checksum || m[0].LoadedAt.IsZero() || m[0].ReferenceRows == 0 {
		t.Errorf("models %+v, want live 2 from v2 with its checksum and load time", m)
	}
	if doc.LastReload == nil || doc.LastReload.Trigger != "admin" || len(doc.LastReload.Failures) != 1 {
		t.Errorf("last reload %+v, want the failed admin reload", doc.LastReload)
	}
}

// TestWatchSetIgnoresNeighbours: the watcher listens to whole directories,
// so an event is only a reason to reload when it is about a watched path.
// A log file beside the config file reloaded the service after every line
// it wrote (and a failed reload writes a line: a loop).
func TestWatchSetIgnoresNeighbours(t *testing.T) {
	dir := t.TempDir()
	current := twoVersions(t, dir)
	cfgDir := filepath.Join(dir, "etc")
	os.MkdirAll(cfgDir, 0o755)
	cfgFile := filepath.Join(cfgDir, "config.yaml")
	os.WriteFile(cfgFile, []byte("model: {}\n"), 0o644)
	os.Symlink("v1", filepath.Join(dir, "stable")) // canary -> stable -> v1
	canary := filepath.Join(dir, "canary")
	os.Symlink("stable", canary)
	ws := watchSetOf([]string{current, canary, cfgFile})
	for _, tc := range []struct {
		path string
		want bool
	}{
		{current, true}, // the symlink flipped
		{filepath.Join(dir, "v1", "model.json"), true},    // the bundle changed in place
		{filepath.Join(dir, "v1", "new-file"), true},      // any file of the bundle
		{filepath.Join(dir, "v2", "model.json"), false},   // another version, not served
		{filepath.Join(dir, "current.new"), false},        // the link before its rename
		{filepath.Join(dir, "stable"), true},              // a link the canary's path leads through
		{cfgFile, true},                                   // the config file
		{filepath.Join(cfgDir, "..data"), true},           // a Kubernetes volume's swap
		{filepath.Join(cfgDir, "streamscore.log"), false}, // a log beside the config
		{filepath.Join(dir, "elsewhere", "x"), false},     // not watched at all
	} {
		if got := ws.relevant(tc.path); got != tc.want {
			t.Errorf("relevant(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

// TestRolesOfAnotherQuestion: a canary's predictions go to output.topic
// beside the live model's and a shadow's are compared with them, so a bundle
// with other classes (iris beside fraud) is refused in those roles, at start
// and at a reload, instead of writing "versicolor" for a share of the card
// transactions.
func TestRolesOfAnotherQuestion(t *testing.T) {
	dir := t.TempDir()
	v1 := bundletest.Copy(t, fraudDir, dir, "v1", "1")
	gb := bundletest.Copy(t, "../../examples/fraud-gb", dir, "gb", "1")
	iris := bundletest.Copy(t, "../../examples/iris", dir, "iris", "1")
	cfg := Config{Bundle: v1, Canary: iris, CanaryPercent: 50, Shadow: iris, ShadowTopic: "s", WatchDebounce: time.Second}
	h := newHarness(t, Options{Initial: cfg, Config: func() (Config, error) { return cfg, nil }})
	lu := h.start(t)
	if lu.Canary != nil || lu.CanaryPercent != 0 || lu.Shadow != nil {
		t.Errorf("first lineup %s, want the live model alone", lineupString(lu))
	}
	for _, role := range []string{"canary", "shadow"} {
		if got := h.failures(role); got != 1 {
			t.Errorf("%s failures %v, want 1", role, got)
		}
	}
	for _, f := range h.r.Last().Failures {
		if !strings.Contains(f.Err.Error(), "does not answer the live model's question") {
			t.Errorf("failure %+v, want it to say why", f)
		}
	}

	cfg.Canary, cfg.Shadow = gb, gb // another algorithm for the same question: fine
	if out := h.r.Reload(context.Background(), "admin"); len(out.Failures) != 0 || !out.Swapped {
		t.Fatalf("reload with fraud-gb as canary and shadow: %+v, want a swap", out)
	}
	twin := bundletest.Copy(t, fraudDir, dir, "twin", "1", func(dir string) { // another bundle, the live model's name@version
		os.WriteFile(filepath.Join(dir, "NOTES.txt"), []byte("retrained, version not bumped\n"), 0o644)
	})
	cfg.Shadow = ""
	cfg.Canary = twin
	out := h.r.Reload(context.Background(), "admin")
	if len(out.Failures) != 1 || !strings.Contains(out.Failures[0].Err.Error(), "has the live model's name and version") {
		t.Errorf("reload with a canary named like the live model: %+v, want a failure saying it cannot be told from it", out)
	}
	cfg.Canary = v1 // promoted: the live model is the canary's bundle
	out = h.r.Reload(context.Background(), "admin")
	if lu := h.r.Current(); len(out.Failures) != 0 || lu.Canary != nil {
		t.Errorf("reload with the live bundle as canary: %+v, lineup %s; want no failure and no canary", out, lineupString(lu))
	}
	cfg.Canary, cfg.Shadow = gb, gb
	h.r.Reload(context.Background(), "admin")
	cfg.Canary, cfg.Shadow = iris, iris
	out = h.r.Reload(context.Background(), "admin")
	lu = h.r.Current()
	if len(out.Failures) != 2 || lu.Canary == nil || lu.Canary.Bundle.Name != "fraud-gb" || lu.CanaryPercent != 50 ||
		lu.Shadow == nil || lu.Shadow.Bundle.Name != "fraud-gb" {
		t.Errorf("reload with iris as canary and shadow: %+v, lineup %s; want two failures and fraud-gb kept", out, lineupString(lu))
	}
}

// TestLiveOnly: with LiveOnly (streamscore serve) the canary and shadow of
// the config file are never loaded: serve stripped them from its first
// configuration, but a reload read them from the file again and showed a
// canary in /v1/models and model_info that scored nothing.
func TestLiveOnly(t *testing.T) {
	dir := t.TempDir()
	v1 := bundletest.Copy(t, fraudDir, dir, "v1", "1")
	v2 := bundletest.Copy(t, fraudDir, dir, "v2", "2")
	cfg := Config{Bundle: v1, Canary: v2, CanaryPercent: 30, Shadow: v2, ShadowTopic: "s", WatchDebounce: time.Second}
	h := newHarness(t, Options{Initial: cfg, LiveOnly: true, Config: func() (Config, error) { return cfg, nil }})
	if lu := h.start(t); lu.Canary != nil || lu.Shadow != nil {
		t.Errorf("first lineup %s, want the live model alone", lineupString(lu))
	}
	cfg.Bundle = v2
	out := h.r.Reload(context.Background(), "admin")
	if lu := h.r.Current(); !out.Swapped || lu.Canary != nil || lu.Shadow != nil || lu.Live.Bundle.Version != "2" {
		t.Errorf("after a reload: %+v, lineup %s; want live 2 alone", out, lineupString(lu))
	}
	if got, want := exportedLineup(t, h.m), "live=2 canary=- shadow=-"; got != want {
		t.Errorf("model_info %s, want %s", got, want)
	}
}

// ruleBundle writes a linear rule bundle (no reference rows) reading
// inputs, a JSON list of bundle inputs whose first is the number the rule
// scores, to dir/name.
func ruleBundle(t *testing.T, dir, name, version, inputs string) string {
	t.Helper()
	var in []map[string]any
	if err := json.Unmarshal([]byte(inputs), &in); err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"format_version": 1, "name": "rule", "version": version, "inputs": in,
		"features": []any{map[string]any{"name": "f", "input": in[0]["name"], "steps": []any{}}},
		"model":    map[string]any{"kind": "linear", "link": "identity", "coef": [][]float64{{2}}, "intercept": []float64{10}},
		"output":   map[string]any{"task": "regression", "thresholds": []any{map[string]any{"above": 100.0, "label": "high"}}, "default_label": "low"}}
	b, _ := json.Marshal(m)
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p, "bundle.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReloadKeepsTheInputContract: a new live or canary bundle that
// requires a field the serving live model does not require, or reads a
// field as another type, is refused at a reload. It passed its own
// reference rows, so it was swapped in, and every event of the stream (or
// request of the door) was dead-lettered as missing_field or wrong_type.
// An optional new input is fine.
func TestReloadKeepsTheInputContract(t *testing.T) {
	dir := t.TempDir()
	v1 := ruleBundle(t, dir, "v1", "1", `[{"name": "value", "type": "number", "required": true}, {"name": "hint", "type": "number"}]`)
	cfg := Config{Bundle: v1, WatchDebounce: time.Second}
	h := newHarness(t, Options{Initial: cfg, Config: func() (Config, error) { return cfg, nil }})
	h.start(t)
	refused := map[string]string{
		"renamed": `[{"name": "value", "path": "v", "type": "number", "required": true}]`,
		"new":     `[{"name": "value", "type": "number", "required": true}, {"name": "extra", "type": "number", "required": true}]`,
		"now-req": `[{"name": "value", "type": "number", "required": true}, {"name": "hint", "type": "number", "required": true}]`,
		"retyped": `[{"name": "value", "type": "number", "required": true}, {"name": "hint", "type": "category"}]`,
	}
	want := map[string]string{"renamed": `requires field "v"`, "new": `requires field "extra"`,
		"now-req": `requires field "hint", which rule@1 reads as optional`, "retyped": `reads field "hint" as category, where rule@1 reads it as number`}
	n := 0.0
	for _, name := range slices.Sorted(maps.Keys(refused)) {
		for _, role := range []predict.Role{predict.RoleLive, predict.RoleCanary} {
			cfg = Config{Bundle: v1, WatchDebounce: time.Second}
			b := ruleBundle(t, dir, name+"-"+string(role), "2", refused[name])
			if role == predict.RoleLive {
				cfg.Bundle = b
			} else {
				cfg.Canary, cfg.CanaryPercent = b, 10
			}
			out := h.r.Reload(context.Background(), "admin")
			n++
			if out.Swapped || len(out.Failures) != 1 || out.Failures[0].Role != string(role) ||
				!strings.Contains(out.Failures[0].Err.Error(), want[name]) {
				t.Errorf("%s as %s: %+v, want one %s failure saying %s", name, role, out, role, want[name])
			}
			if lu := h.r.Current(); lu.Live.Bundle.Version != "1" || lu.Canary != nil {
				t.Errorf("%s as %s: lineup %s, want rule@1 alone", name, role, lineupString(lu))
			}
		}
	}
	if got := h.failures("live") + h.failures("canary"); got != n {
		t.Errorf("model_load_failures_total live+canary %v, want %v", got, n)
	}
	cfg = Config{Bundle: ruleBundle(t, dir, "optional", "2", `[{"name": "value", "type": "number", "required": true}, {"name": "extra", "type": "number"}]`), WatchDebounce: time.Second}
	if out := h.r.Reload(context.Background(), "admin"); !out.Swapped || len(out.Failures) != 0 {
		t.Errorf("a new optional input: %+v, want a swap", out)
	}
}

// TestWatchSeesAChangeDuringStart: a `current` flipped after Load read
// the bundle but before Run set up its watch (the service connects to
// Kafka in between) made no event, so the service served the old version
// until the next change, while the symlink named the new one.
func TestWatchSeesAChangeDuringStart(t *testing.T) {
	dir := t.TempDir()
	current := twoVersions(t, dir)
	h := newHarness(t, Options{Initial: Config{Bundle: current, Watch: true, WatchDebounce: 50 * time.Millisecond}})
	h.start(t)
	bundletest.Flip(t, current, "v2") // once, before Run
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.r.Run(ctx) }()
	defer func() { cancel(); <-done }()
	proctest.Eventually(t, 20*time.Second, "the flip before the watch served", func() error {
		if v := h.r.Current().Live.Bundle.Version; v != "2" {
			return fmt.Errorf("live %s, want 2; log:\n%s", v, h.log.String())
		}
		return nil
	})
}
