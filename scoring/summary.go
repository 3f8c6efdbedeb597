package scoring

import (
	"fmt"
	"io"
	"strings"
)

// WriteSummary prints a one-screen description of a loaded (so valid) bundle:
// what `streamscore validate` shows.
func (b *Bundle) WriteSummary(w io.Writer) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "bundle     %s@%s (format %d)\n", b.Name, b.Version, b.Manifest.FormatVersion)
	if b.Description != "" {
		fmt.Fprintf(&sb, "           %s\n", b.Description)
	}
	var req []string
	byType := map[string]int{}
	for _, in := range b.layout.Inputs {
		byType[string(in.Type)]++
		if in.Required {
			req = append(req, in.Name)
		}
	}
	fmt.Fprintf(&sb, "inputs     %d (", len(b.layout.Inputs))
	first := true
	for _, t := range []string{"number", "category", "timestamp", "bool"} {
		if byType[t] > 0 {
			if !first {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "%d %s", byType[t], t)
			first = false
		}
	}
	sb.WriteString(")")
	if len(req) > 0 {
		fmt.Fprintf(&sb, "; required: %s", clip(strings.Join(req, ", "), 60))
	}
	sb.WriteString("\n")
	fmt.Fprintf(&sb, "features   %d -> %d model columns\n", len(b.pipe.Features()), b.pipe.Width())
	desc := b.pipe.Describe()
	const show = 12
	for i, d := range desc {
		if i == show {
			fmt.Fprintf(&sb, "           ... and %d more\n", len(desc)-show)
			break
		}
		fmt.Fprintf(&sb, "           %s\n", clip(d, 70))
	}
	for i, line := range b.model.Describe() {
		if i == 0 {
			fmt.Fprintf(&sb, "model      %s\n", line)
		} else {
			fmt.Fprintf(&sb, "           %s\n", line)
		}
	}
	o := b.Manifest.Output
	fmt.Fprintf(&sb, "output     task %s", o.Task)
	if len(o.Classes) > 0 {
		fmt.Fprintf(&sb, ", classes %s", clip(strings.Join(o.Classes, " | "), 60))
	}
	sb.WriteString("\n")
	for _, t := range o.Thresholds {
		fmt.Fprintf(&sb, "           score > %g -> %q\n", t.Above, t.Label)
	}
	if len(o.Thresholds) > 0 || o.Task == TaskBinary {
		if o.Task == TaskBinary && len(o.Thresholds) == 0 {
			fmt.Fprintf(&sb, "           score > 0.5 -> %q, else %q\n", o.Classes[1], o.Classes[0])
		} else {
			fmt.Fprintf(&sb, "           otherwise -> %q\n", b.policy.defaultLabel)
		}
	}
	if d := b.Manifest.Drift; d != nil {
		fmt.Fprintf(&sb, "drift      %d input histograms and the score's, from %d training rows\n", len(d.Inputs), d.Rows)
	}
	for _, wn := range b.warnings {
		fmt.Fprintf(&sb, "warning    %s\n", wn)
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
