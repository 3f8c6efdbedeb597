package reload

import (
	"fmt"
	"time"
)

// Config is the model section of the service configuration: the bundles
// of the lineup and how they are reloaded. Field tags name the keys and say
// what they do; the service builds its flags, environment variables and
// docs from them.
type Config struct {
	Bundle        string `config:"bundle" help:"model bundle directory (bundle.json + model files), or a symlink to one (current -> v2), reloaded when it changes; required by run; embedded: the demo's fraud bundle built into the binary"`
	Canary        string `config:"canary" help:"a second bundle that scores model.canary_percent of the record keys in model.bundle's place, into output.topic (empty: none; run only)"`
	CanaryPercent int    `config:"canary_percent" help:"share of record keys (0-100) the canary scores: a stable hash of the key, so a key stays on one model; records without a key stay on model.bundle"`
	Shadow        string `config:"shadow" help:"a bundle that scores every event beside the live model; its predictions go to model.shadow_topic, never to output.topic (empty: none; run only)"`
	ShadowTopic   string `config:"shadow_topic" help:"topic of the shadow's predictions; needed for model.shadow; read at start only"`
	// Watch and WatchDebounce are read at start only.
	Watch         bool          `config:"watch" help:"reload when a bundle directory, its symlink or the config file changes on disk (read at start only)"`
	WatchDebounce time.Duration `config:"watch_debounce" help:"after a change on disk, wait until nothing changed for this long, then reload"`
}

// DefaultConfig is the model section's defaults: no bundle (run requires
// one), watching on.
func DefaultConfig() Config {
	return Config{Watch: true, WatchDebounce: time.Second}
}

// Validate checks the section and names the first wrong key with its value.
func (c Config) Validate() error {
	if c.CanaryPercent < 0 || c.CanaryPercent > 100 {
		return fmt.Errorf("model.canary_percent %d: want 0 to 100", c.CanaryPercent)
	}
	if c.Shadow != "" && c.ShadowTopic == "" {
		return fmt.Errorf("model.shadow %q: needs model.shadow_topic, the topic of its predictions", c.Shadow)
	}
	if c.WatchDebounce <= 0 {
		return fmt.Errorf("model.watch_debounce %q: must be positive", c.WatchDebounce)
	}
	return nil
}
