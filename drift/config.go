package drift

import (
	"fmt"
	"time"
)

// Config is the monitor section of the service configuration: drift
// monitoring of the stream and of the HTTP door.
type Config struct {
	Window time.Duration `config:"drift_window" help:"how much recent traffic the PSI metrics compare with the bundle's training distributions (a ring of 30 steps; 0: off). Bundles without drift statistics export no PSI"`
}

// Bounds of Config.Window (when not 0).
const (
	MinWindow = 30 * time.Second
	MaxWindow = 7 * 24 * time.Hour
)

// DefaultConfig is the monitor section's defaults: a 30-minute window, the
// span the drift alerts are written for.
func DefaultConfig() Config { return Config{Window: 30 * time.Minute} }

// Validate checks the window length.
func (c Config) Validate() error {
	if c.Window != 0 && (c.Window < MinWindow || c.Window > MaxWindow) {
		return fmt.Errorf("monitor.drift_window %q: want 0 (off) or between %s and %s", c.Window, MinWindow, MaxWindow)
	}
	return nil
}
