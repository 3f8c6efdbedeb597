package reload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamscore/streamscore/features"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/scoring"
)

// Model is one loaded and checked bundle of a lineup.
type Model struct {
	Role   predict.Role
	Bundle *scoring.Bundle
	Origin predict.Origin
}

// Ref is "name@version".
func (m *Model) Ref() string { return m.Bundle.Name + "@" + m.Bundle.Version }

// Lineup is what the doors score with: the live model, an optional canary
// with its share of keys, an optional shadow. It is immutable; a reload
// makes a new one, reusing the Models of roles that did not change.
type Lineup struct {
	Live          *Model
	Canary        *Model // nil: none
	CanaryPercent int    // with a canary: share of keys, 0-100
	Shadow        *Model // nil: none
	ShadowTopic   string // with a shadow: where its predictions go
}

func (l *Lineup) model(r predict.Role) *Model {
	switch r {
	case predict.RoleLive:
		return l.Live
	case predict.RoleCanary:
		return l.Canary
	}
	return l.Shadow
}

func (l *Lineup) set(r predict.Role, m *Model) {
	switch r {
	case predict.RoleLive:
		l.Live = m
	case predict.RoleCanary:
		l.Canary = m
	default:
		l.Shadow = m
	}
}

// Failure is one role that kept its old model at a reload, and why.
type Failure struct {
	Role   string // a predict.Role, or RoleConfig
	Source string // the configured path
	Dir    string // the directory it resolved to ("" if it did not)
	Err    error
}

// Outcome is what one reload did.
type Outcome struct {
	At       time.Time
	Trigger  string    // start, watch, admin
	Swapped  bool      // a new lineup was swapped in
	Failures []Failure // roles that kept their old model (with a swap, the others did change)
}

// Options are what a Reloader needs.
type Options struct {
	// Initial is the model section at start.
	Initial Config
	// Config reads the model section as it is now (the config file again).
	// nil: Initial at every reload (only the bundles on disk change).
	Config func() (Config, error)
	// Check says whether the doors can serve b: it builds their decoders
	// for the configured input format and schema. nil: no check.
	Check func(b *scoring.Bundle) error
	// Builtin are bundle names carried by the binary (model.bundle:
	// embedded): loaded from a temporary copy, never watched.
	Builtin map[string]fs.FS
	// LiveOnly: the doors serve model.bundle alone (streamscore serve), so
	// model.canary and model.shadow are never loaded, at start or when a
	// reload reads them from the config file.
	LiveOnly bool
	// WatchFiles are more files whose change means a reload (the config
	// file).
	WatchFiles []string
	Log        *slog.Logger
	Metrics    *Metrics // nil: not counted
}

// Reloader loads the lineup the model section names, checks it, and on
// every reload (Reload, the file watcher in Run, the admin endpoint) loads
// what changed beside the serving models and hands the new lineup to the
// doors (the apply func of Start). A role whose new bundle fails any step
// keeps its old model; the failure is counted, logged with the bundle path
// and the reason, and shown by /v1/models. Safe for concurrent use; reloads
// run one at a time.
type Reloader struct {
	opts Options
	log  *slog.Logger
	m    *Metrics

	mu     sync.Mutex // serialises reloads
	apply  func(*Lineup) error
	atLoad map[predict.Role]string // onDisk when Load began: what Run compares with
	cur    atomic.Pointer[Lineup]
	last   atomic.Pointer[Outcome]
}

// New returns a Reloader; it loads nothing yet (Load does).
func New(opts Options) (*Reloader, error) {
	if err := opts.Initial.Validate(); err != nil {
		return nil, err
	}
	opts.Initial = opts.roles(opts.Initial)
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	return &Reloader{opts: opts, log: opts.Log, m: opts.Metrics}, nil
}

// Load loads the lineup of the initial configuration. A live bundle that
// fails is the error (there is nothing to serve); a canary or shadow that
// fails is left out, counted and logged, as at a reload.
func (r *Reloader) Load(ctx context.Context) (*Lineup, error) {
	cfg := r.opts.Initial
	if cfg.Bundle == "" {
		return nil, errors.New("model.bundle is not set")
	}
	r.atLoad = r.onDisk(cfg)
	lu, fails := r.build(ctx, cfg, &Lineup{})
	for _, f := range fails {
		if f.Role == string(predict.RoleLive) {
			return nil, fmt.Errorf("model bundle %s: %w", f.Source, f.Err)
		}
	}
	r.report(Outcome{At: time.Now(), Trigger: "start", Failures: fails})
	return lu, nil
}

// Start makes first (from Load) the current lineup, hands it to apply, and
// makes apply the receiver of every later lineup. apply swaps the models
// into the doors; when it fails, the doors keep the lineup they have.
func (r *Reloader) Start(first *Lineup, apply func(*Lineup) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := apply(first); err != nil {
		return err
	}
	r.apply = apply
	r.cur.Store(first)
	r.m.export(nil, first)
	r.logSwap("start", nil, first, time.Now())
	out := Outcome{At: time.Now(), Trigger: "start"}
	if l := r.last.Load(); l != nil {
		out = *l
	}
	out.Swapped = true
	r.last.Store(&out)
	return nil
}

// Current is the lineup serving now (nil before Start).
func (r *Reloader) Current() *Lineup { return r.cur.Load() }

// Last is the outcome of the last reload (nil before Load).
func (r *Reloader) Last() *Outcome { return r.last.Load() }

// Reload reads the model section again, loads and checks every bundle that
// changed (by resolved directory and checksum) beside the serving ones, and
// swaps the new lineup in. trigger says who asked (watch, admin).
func (r *Reloader) Reload(ctx context.Context, trigger string) Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := Outcome{At: time.Now(), Trigger: trigger}
	cur := r.cur.Load()
	if cur == nil || r.apply == nil {
		out.Failures = []Failure{{Role: RoleConfig, Err: errors.New("not started")}}
		return out
	}
	cfg, err := r.config()
	if err != nil {
		out.Failures = []Failure{{Role: RoleConfig, Err: err}}
		r.report(out)
		return out
	}
	if i := r.opts.Initial; cfg.Watch != i.Watch || cfg.WatchDebounce != i.WatchDebounce {
		r.log.Warn("model.watch and model.watch_debounce are read at start only: restart to change them",
			"watch", i.Watch, "watch_debounce", i.WatchDebounce.String())
	}
	next, fails := r.build(ctx, cfg, cur)
	out.Failures = fails
	if !next.differs(cur) {
		r.report(out)
		if len(fails) == 0 {
			r.log.Debug("model reload: nothing changed", "trigger", trigger)
		}
		return out
	}
	swappedAt := time.Now()
	if err := r.apply(next); err != nil {
		out.Failures = append(out.Failures, Failure{Role: string(predict.RoleLive), Source: cfg.Bundle,
			Err: fmt.Errorf("swap: %w", err)})
		r.report(out)
		return out
	}
	r.cur.Store(next)
	out.Swapped = true
	r.m.Swaps.Inc()
	r.m.export(cur, next)
	r.logSwap(trigger, cur, next, swappedAt)
	r.report(out)
	return out
}

func (r *Reloader) config() (Config, error) {
	if r.opts.Config == nil {
		return r.opts.Initial, nil
	}
	cfg, err := r.opts.Config()
	if err != nil {
		return Config{}, fmt.Errorf("reading the configuration: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return r.opts.roles(cfg), nil
}

// roles is cfg without the roles the doors do not serve.
func (o *Options) roles(cfg Config) Config {
	if o.LiveOnly {
		cfg.Canary, cfg.CanaryPercent, cfg.Shadow = "", 0, ""
	}
	return cfg
}

// build makes the lineup cfg names, starting from cur: a role whose path,
// directory and checksum did not change keeps its Model; a role whose new
// bundle fails keeps cur's Model (or none) and is returned as a failure.
func (r *Reloader) build(ctx context.Context, cfg Config, cur *Lineup) (*Lineup, []Failure) {
	next := &Lineup{CanaryPercent: cfg.CanaryPercent, ShadowTopic: r.opts.Initial.ShadowTopic}
	var fails []Failure
	sources := map[predict.Role]string{predict.RoleLive: cfg.Bundle, predict.RoleCanary: cfg.Canary, predict.RoleShadow: cfg.Shadow}
	for _, role := range predict.Roles {
		have := cur.model(role)
		m, f := r.loadRole(ctx, role, sources[role], have)
		if f == nil && m != nil && m != have && role != predict.RoleShadow && cur.Live != nil {
			// At a reload, the serving live model is what the events are
			// known to fit.
			if err := sameInputs(role, cur.Live.Bundle, m.Bundle); err != nil {
				f = &Failure{Role: string(role), Source: sources[role], Dir: m.Origin.Dir, Err: err}
			}
		}
		if f != nil {
			fails = append(fails, *f)
			m = have
		}
		next.set(role, m)
	}
	if next.Shadow != nil && cfg.ShadowTopic != r.opts.Initial.ShadowTopic {
		fails = append(fails, Failure{Role: string(predict.RoleShadow), Source: cfg.Shadow,
			Err: fmt.Errorf("model.shadow_topic changed from %q to %q: it is read at start only; restart to change it", r.opts.Initial.ShadowTopic, cfg.ShadowTopic)})
		next.Shadow = cur.Shadow
	}
	for _, role := range []predict.Role{predict.RoleCanary, predict.RoleShadow} {
		m := next.model(role)
		if m == nil || next.Live == nil {
			continue
		}
		if role == predict.RoleCanary && m.Origin.Checksum == next.Live.Origin.Checksum {
			// Promoted (current flipped to the canary's bundle): the same model serves every key.
			r.log.Info("the canary is the live model now; clear model.canary", "canary", sources[role], "live", cfg.Bundle)
			next.Canary = nil
			continue
		}
		if err := sameQuestion(role, next.Live.Bundle, m.Bundle); err != nil {
			fails = append(fails, Failure{Role: string(role), Source: sources[role], Dir: m.Origin.Dir, Err: err})
			var keep *Model
			if old := cur.model(role); old != nil && sameQuestion(role, next.Live.Bundle, old.Bundle) == nil {
				keep = old
			}
			next.set(role, keep)
		}
	}
	for _, f := range fails {
		if f.Role == string(predict.RoleCanary) {
			// The share was set for the refused bundle, not the one kept:
			// the kept canary gets no more than it had.
			next.CanaryPercent = min(cur.CanaryPercent, cfg.CanaryPercent)
		}
	}
	if next.Canary == nil {
		next.CanaryPercent = 0
	}
	return next, fails
}

// sameQuestion says whether m can stand beside live in role: a canary's
// predictions go to output.topic with live's, and a shadow's are compared
// with live's (label agreement, score difference), so both must have the
// same task and classes, and a canary its own name@version. Inputs may
// differ within the serving live model's contract (sameInputs).
func sameQuestion(role predict.Role, live, m *scoring.Bundle) error {
	if live.Task() != m.Task() || !slices.Equal(live.Classes(), m.Classes()) {
		return fmt.Errorf("%s %s@%s does not answer the live model's question: task %s, classes %q, where %s@%s has task %s, classes %q",
			role, m.Name, m.Version, m.Task(), m.Classes(), live.Name, live.Version, live.Task(), live.Classes())
	}
	if role == predict.RoleCanary && m.Name == live.Name && m.Version == live.Version {
		return fmt.Errorf("canary %s@%s has the live model's name and version: its predictions in output.topic and its metrics could not be told from the live model's; give it its own version", m.Name, m.Version)
	}
	return nil
}

// sameInputs says whether m can score, at a reload, the events live
// scores now: every input m requires must be one live requires, and an
// input both read must have the same type. Else every event would be
// dead-lettered (missing_field, wrong_type) from the swap on, by a model
// that passed its reference rows; the new contract needs a restart, when
// the operator chose it. An optional new input is fine: it is imputed, and
// its absence shows in streamscore_input_missing_total. The shadow is not
// checked: its rejects are only counted.
func sameInputs(role predict.Role, live, m *scoring.Bundle) error {
	have := map[string]features.Input{}
	for _, in := range live.Layout().Inputs {
		have[strings.Join(in.FieldPath(), ".")] = in
	}
	for _, in := range m.Layout().Inputs {
		field := strings.Join(in.FieldPath(), ".")
		old, ok := have[field]
		var why string
		switch {
		case ok && old.Type != in.Type:
			why = fmt.Sprintf("reads field %q as %s, where %s@%s reads it as %s: events would be dead-lettered as wrong_type", field, in.Type, live.Name, live.Version, old.Type)
		case in.Required && !ok:
			why = fmt.Sprintf("requires field %q, which %s@%s does not read: events without it would be dead-lettered as missing_field", field, live.Name, live.Version)
		case in.Required && !old.Required:
			why = fmt.Sprintf("requires field %q, which %s@%s reads as optional: events without it would be dead-lettered as missing_field", field, live.Name, live.Version)
		default:
			continue
		}
		return fmt.Errorf("%s %s@%s %s; a reload keeps the input contract of the serving model: make the input optional, or restart with the bundle once the events carry it", role, m.Name, m.Version, why)
	}
	return nil
}

// loadRole loads the bundle at source for role, unless it is have's
// (same path, directory and checksum). An empty source is no model.
func (r *Reloader) loadRole(ctx context.Context, role predict.Role, source string, have *Model) (*Model, *Failure) {
	if source == "" {
		return nil, nil
	}
	fail := func(dir string, err error) (*Model, *Failure) {
		return nil, &Failure{Role: string(role), Source: source, Dir: dir, Err: err}
	}
	dir, label, cleanup, err := r.resolve(source)
	if err != nil {
		return fail("", err)
	}
	defer cleanup()
	sum, err := Checksum(dir)
	if err != nil {
		return fail(label, fmt.Errorf("checksum: %w", err))
	}
	if have != nil && have.Origin.Source == source && have.Origin.Dir == label && have.Origin.Checksum == sum {
		return have, nil
	}
	loadedAt := time.Now()
	b, err := scoring.Load(dir)
	if err != nil {
		return fail(label, err)
	}
	if r.opts.Check != nil {
		if err := r.opts.Check(b); err != nil {
			return fail(label, err)
		}
	}
	rows, err := r.checkReference(ctx, b, dir)
	if err != nil {
		return fail(label, err)
	}
	if rows == 0 && have != nil && have.Origin.ReferenceRows > 0 {
		// Most likely a bundle still being copied, reference.jsonl last:
		// serving it would skip the check that the copy would fail.
		return fail(label, fmt.Errorf("no %s, where the %s model it would replace (%s) was checked against %d reference rows: a bundle still being copied? A bundle without reference rows needs a restart in a role whose model had them",
			scoring.ReferenceFile, role, have.Ref(), have.Origin.ReferenceRows))
	}
	if rows == 0 {
		r.log.Warn("bundle has no "+scoring.ReferenceFile+": it serves without a reference check", "role", role, "bundle", source, "dir", label)
	}
	for _, w := range b.Warnings() {
		r.log.Warn("bundle warning", "role", role, "bundle", source, "warning", w)
	}
	return &Model{Role: role, Bundle: b, Origin: predict.Origin{Source: source, Dir: label, Checksum: sum,
		LoadedAt: loadedAt, ReferenceRows: rows}}, nil
}

// onDisk is, per role of cfg, the directory its bundle path resolves to
// now and the checksum there ("" when it does not resolve; builtin bundles
// never change and are left out).
func (r *Reloader) onDisk(cfg Config) map[predict.Role]string {
	out := map[predict.Role]string{}
	for role, src := range map[predict.Role]string{predict.RoleLive: cfg.Bundle, predict.RoleCanary: cfg.Canary, predict.RoleShadow: cfg.Shadow} {
		if _, builtin := r.opts.Builtin[src]; src == "" || builtin {
			continue
		}
		d, err := realDir(src)
		if err != nil {
			out[role] = ""
			continue
		}
		sum, _ := Checksum(d)
		out[role] = d + " " + sum
	}
	return out
}

// changedSinceLoad says whether the configuration or a bundle on disk is
// no longer what Load read.
func (r *Reloader) changedSinceLoad() bool {
	cfg, err := r.config()
	return err != nil || cfg != r.opts.Initial || !maps.Equal(r.onDisk(cfg), r.atLoad)
}

// resolve gives the directory to read source from now, and the label it
// is shown with: a builtin name is copied to a temporary directory (removed
// by cleanup) and shown by its name.
func (r *Reloader) resolve(source string) (dir, label string, cleanup func(), err error) {
	if fsys, ok := r.opts.Builtin[source]; ok {
		tmp, err := os.MkdirTemp("", "streamscore-bundle-")
		if err != nil {
			return "", "", nil, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		if err := os.CopyFS(tmp, fsys); err != nil {
			cleanup()
			return "", "", nil, err
		}
		return tmp, source, cleanup, nil
	}
	d, err := realDir(source)
	if err != nil {
		return "", "", nil, err
	}
	return d, d, func() {}, nil
}

// checkReference scores the bundle's reference rows (warming it up) as
// the stream's JSON decoder reads them, and requires the training library's
// outputs within predict.DefaultTolerances. It returns the number of rows;
// 0 when the bundle has none (allowed: a hand-written rule bundle).
func (r *Reloader) checkReference(_ context.Context, b *scoring.Bundle, dir string) (int, error) {
	refs, err := scoring.ReadReference(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	rep, err := predict.CheckBundle(b, refs)
	if err != nil {
		return 0, fmt.Errorf("reference check: %w", err)
	}
	if !rep.OK() {
		mm := rep.Mismatches[0]
		return 0, fmt.Errorf("reference check: %d of %d rows differ from the training library's outputs; first at %s line %d: %s",
			len(rep.Mismatches), rep.Rows, scoring.ReferenceFile, mm.Row.Line, mm.What)
	}
	return rep.Rows, nil
}

// differs reports whether l would change what the doors do, compared
// with cur.
func (l *Lineup) differs(cur *Lineup) bool {
	return l.Live != cur.Live || l.Canary != cur.Canary || l.Shadow != cur.Shadow ||
		l.CanaryPercent != cur.CanaryPercent || l.ShadowTopic != cur.ShadowTopic
}

// report counts and logs the failures of out and keeps it as the last
// outcome.
func (r *Reloader) report(out Outcome) {
	r.m.failing(out.Failures)
	for _, f := range out.Failures {
		r.m.LoadFailures.WithLabelValues(f.Role).Inc()
		r.log.Error("model reload failed; the old model keeps serving", "role", f.Role, "bundle", f.Source,
			"dir", f.Dir, "trigger", out.Trigger, "err", f.Err.Error())
	}
	r.last.Store(&out)
}

// logSwap logs one line per swap with the whole new lineup. swapped_at is
// taken before the swap: every prediction of the new lineup is scored at or
// after it.
func (r *Reloader) logSwap(trigger string, prev, next *Lineup, at time.Time) {
	attrs := []any{"trigger", trigger, "swapped_at", at, "live", next.Live.Ref(), "live_dir", next.Live.Origin.Dir,
		"live_checksum", next.Live.Origin.Checksum, "reference_rows", next.Live.Origin.ReferenceRows}
	if prev != nil {
		attrs = append(attrs, "previous", prev.Live.Ref())
	}
	if next.Canary != nil {
		attrs = append(attrs, "canary", next.Canary.Ref(), "canary_percent", next.CanaryPercent, "canary_checksum", next.Canary.Origin.Checksum)
	}
	if next.Shadow != nil {
		attrs = append(attrs, "shadow", next.Shadow.Ref(), "shadow_topic", next.ShadowTopic, "shadow_checksum", next.Shadow.Origin.Checksum)
	}
	r.log.Info("models swapped", attrs...)
}
