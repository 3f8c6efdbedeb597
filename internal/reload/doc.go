// Package reload is the model lifecycle of the service: it loads the
// lineup the model section names (the live bundle, a canary taking a share
// of the record keys, a shadow scoring beside them), and swaps a new one in
// without a restart.
//
// Lifecycle:
//  1. New, then Load: the bundles of the initial configuration, each
//     resolved (symlinks, a Kubernetes volume's ..data), checksummed,
//     loaded, checked by the doors (Options.Check builds their decoders)
//     and against its own reference rows (reference.jsonl, which also warms
//     it up). A live bundle that fails is a start-up error.
//  2. Start hands the lineup to the doors (the apply func: the processor's
//     Pipeline.Swap, the HTTP door's SetPath).
//  3. Reload, on a change on disk (Run watches with fsnotify and debounces),
//     on POST /admin/reload (AdminHandler, which the service puts behind
//     the admin token), or when called: the model section is read again
//     (so a canary is added, promoted or removed by editing the config and
//     reloading), every bundle that changed is loaded beside the serving
//     ones and checked (a new live or canary bundle also against the
//     serving live model's required inputs and their types: sameInputs),
//     and the new lineup goes to apply. A role whose
//     bundle fails any step keeps its old model: the failure is counted,
//     logged in one line with the bundle path and the reason, and shown by
//     GET /v1/models (ModelsHandler).
//
// A bundle without reference.jsonl is allowed, with a warning: it is served
// without a reference check (hand-written rule bundles have none). Not at a
// reload in a role whose model had reference rows: that is a bundle still
// being copied, reference.jsonl last, more often than a rule bundle.
//
// Reloads run one at a time; everything is safe for concurrent use.
//
// Metrics (prefixed streamscore_, see NewMetrics):
//
//	model_load_failures_total{role}    model_swaps_total
package reload
