// Package examples carries the demo's model bundle inside the binary, so
// `streamscore demo` (and model.bundle: embedded) works from any directory.
// The bundles themselves are the directories next to this file.
package examples

import (
	"embed"
	"io/fs"
)

// fraud holds the files scoring.Load reads from examples/fraud: the
// manifest and the model file it names (not the reference rows).
//
//go:embed fraud/bundle.json fraud/model.json
var fraud embed.FS

// Fraud is the fraud bundle's directory: bundle.json and model.json at its root.
func Fraud() fs.FS {
	sub, err := fs.Sub(fraud, "fraud")
	if err != nil {
		panic(err) // "fraud" is a valid path; fs.Sub fails only on invalid ones
	}
	return sub
}
