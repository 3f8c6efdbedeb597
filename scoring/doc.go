// Package scoring loads model bundles and scores feature rows with them.
//
// A bundle (docs/bundle.md) is a directory with bundle.json (inputs, feature
// spec, model, decision policy) and, for tree models, a model file (XGBoost's
// save_model JSON, or the exporter's JSON of scikit-learn's tree arrays).
// Scoring reproduces the training library's own predictions: scikit-learn's
// linear and logistic models in float64, XGBoost's gbtree predictor in
// float32 with its base_score, default directions and objective transforms,
// scikit-learn's trees with float32 inputs against float64 thresholds and
// float64 sums (forest averages, gradient boosting's init + learning_rate x
// trees and its link).
//
// Each model kind (linear.go, xgboost.go, lightgbm.go, histgb.go, mlp.go,
// sklearn.go, sklearn_gb.go; the tree kinds compile into packed-node
// ensembles) is registered by name in model.go's modelKinds: the fields of
// its object type are the keys of the manifest's model object, and it loads
// a Model. The kinds whose model is one file of the bundle share fileKind
// (the key "file") and register how the file is parsed. A Model says what it outputs (checked against
// the manifest's task), describes itself for summaries, and makes one
// Predictor per Scorer, which scores blocks of float64 feature rows in what
// the model computes in.
//
// Lifecycle:
//  1. Load (or Parse) reads and validates everything once: strict manifest
//     decoding (unknown keys are errors), the feature pipeline, model
//     structure (child indices, no cycles, finite values, bounded sizes) and
//     that pipeline columns, model inputs and declared classes agree.
//  2. Bundle.NewScorer makes a Scorer per goroutine.
//  3. Scorer.ScoreBatch transforms rows, hands the model blocks of 64 rows
//     (tree models walk them through one tree at a time over 16-byte packed
//     nodes) and applies the decision policy. Records that cannot be scored come back with a DLQ
//     reason instead of a score.
//
// Concurrency: a Bundle is immutable and safe for concurrent use. A Scorer
// and its Counts belong to one goroutine. The package emits no metrics; the
// caller reads Scorer.Counts and exports them. It imports no Kafka, Prometheus
// or configuration packages.
package scoring
