package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"reflect"
	"strings"

	"github.com/streamscore/streamscore/examples"
	"github.com/streamscore/streamscore/httpapi"
	"github.com/streamscore/streamscore/internal/reload"
	"github.com/streamscore/streamscore/predict"
	"github.com/streamscore/streamscore/processor"
	"github.com/streamscore/streamscore/schemas"
	"github.com/streamscore/streamscore/scoring"
)

// The model lifecycle's wiring: how the reloader's lineups become the
// stream's and the HTTP door's paths (internal/reload does the loading,
// checking and watching).

// builtinBundles are the bundle names carried by the binary.
func builtinBundles() map[string]fs.FS { return map[string]fs.FS{embeddedName: examples.Fraud()} }

// pathMaker builds a door's path for a bundle: its decoder settings and
// encoder, the same for every bundle. It remembers the paths of the last
// lineup, so a model that stays in its role keeps its path (and the
// workers' batches for it).
type pathMaker struct {
	in   schemas.InputConfig
	reg  *schemas.Registry
	enc  schemas.Encoder
	echo bool
	last map[*reload.Model]*predict.Path
}

// check says whether bundle b can be decoded with the door's settings.
func (pm *pathMaker) check(b *scoring.Bundle) error {
	if _, err := schemas.NewDecoder(pm.in, b.Layout(), pm.reg); err != nil {
		return fmt.Errorf("input decoder (input.format %s): %w", pm.in.Format, err)
	}
	return nil
}

// path is m's path (nil for no model).
func (pm *pathMaker) path(m *reload.Model) *predict.Path {
	if m == nil {
		return nil
	}
	if p := pm.last[m]; p != nil {
		return p
	}
	b, in, reg := m.Bundle, pm.in, pm.reg
	newDecoder := func() (schemas.Decoder, error) { return schemas.NewDecoder(in, b.Layout(), reg) }
	return predict.New(b, newDecoder, pm.enc, pm.echo).WithOrigin(m.Origin)
}

// remember keeps the paths of lu for the next lineup.
func (pm *pathMaker) remember(lu *reload.Lineup) {
	pm.last = map[*reload.Model]*predict.Path{}
	for _, m := range []*reload.Model{lu.Live, lu.Canary, lu.Shadow} {
		if m != nil {
			pm.last[m] = pm.path(m)
		}
	}
}

// newDoorPaths is the HTTP door's path maker: the JSON decoder with the
// service's input.* settings (whatever input.format the stream reads, HTTP
// bodies are JSON) and the JSON prediction encoder.
func newDoorPaths(ctx context.Context, cfg *Config) (*pathMaker, error) {
	in := cfg.Input.InputConfig
	in.Format, in.AvroSchema = schemas.FormatJSON, ""
	if err := in.Validate(); err != nil {
		return nil, err
	}
	enc, err := schemas.NewEncoder(ctx, schemas.OutputConfig{Format: schemas.FormatJSON, EchoFeatures: cfg.Output.EchoFeatures}, nil)
	if err != nil {
		return nil, err
	}
	return &pathMaker{in: in, enc: enc, echo: cfg.Output.EchoFeatures}, nil
}

// newReloader makes the reloader of cfg's model section. check is what
// every bundle must pass besides its reference rows (the doors' decoders);
// liveOnly leaves canary and shadow out (serve). A reload reads the
// configuration again from where cfg came from.
func newReloader(cfg *Config, log *slog.Logger, m *reload.Metrics, check func(*scoring.Bundle) error, liveOnly bool) (*reload.Reloader, error) {
	opts := reload.Options{Initial: cfg.Model, Check: check, Builtin: builtinBundles(), Log: log, Metrics: m, LiveOnly: liveOnly}
	if cfg.from != nil {
		if path, _ := cfg.from.fs.GetString("config"); path != "" {
			opts.WatchFiles = []string{path}
		}
		loaded := *cfg // as read, before the service fills in what it starts (the embedded broker's address)
		warned := ""   // the keys of the last warning: each change is logged once, not at every read
		opts.Config = func() (reload.Config, error) { return rereadModel(&loaded, log, &warned) }
	}
	return reload.New(opts)
}

// rereadModel reads the configuration again for a reload and returns its
// model section. Changes elsewhere (against loaded, the tree as the service
// read it at start) take effect at the next restart only: the log says so,
// naming the keys, once per change (*warned: the keys last logged; the
// reloader reads the file more than once per reload).
func rereadModel(loaded *Config, log *slog.Logger, warned *string) (reload.Config, error) {
	c, err := loaded.from.load()
	if err != nil {
		return reload.Config{}, err
	}
	was, _ := walkConfig(loaded)
	now, _ := walkConfig(c)
	var changed []string
	for i, l := range was {
		if !strings.HasPrefix(l.key, "model.") && !reflect.DeepEqual(l.v.Interface(), now[i].v.Interface()) {
			changed = append(changed, l.key)
		}
	}
	if keys := strings.Join(changed, ", "); keys != *warned {
		*warned = keys
		if keys != "" {
			log.Warn("the configuration changed outside the model section; those changes take effect at the next restart", "keys", keys)
		}
	}
	return c.Model, nil
}

// streamApply is the apply func of run: the lineup goes to the stream's
// pipeline and its live model to the HTTP door (if any). The door is
// swapped first and put back if the pipeline refuses the lineup, so the
// two never serve different live models.
func streamApply(pipe *processor.Pipeline, stream *pathMaker, door *httpapi.Server, doorPaths *pathMaker) func(*reload.Lineup) error {
	return func(lu *reload.Lineup) error {
		m := processor.Models{Live: stream.path(lu.Live), Canary: stream.path(lu.Canary),
			CanaryPercent: lu.CanaryPercent, Shadow: stream.path(lu.Shadow)}
		var before *predict.Path
		if door != nil {
			before = door.Path()
			if err := door.SetPath(doorPaths.path(lu.Live)); err != nil {
				return fmt.Errorf("http door: %w", err)
			}
		}
		if err := pipe.Swap(m); err != nil {
			if door != nil && before != nil {
				_ = door.SetPath(before)
			}
			return err
		}
		stream.remember(lu)
		if door != nil {
			doorPaths.remember(lu)
		}
		return nil
	}
}
