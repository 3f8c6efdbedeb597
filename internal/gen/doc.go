// Package gen makes events for the demo, the load generator (`streamscore
// produce`) and the tests:
//
//   - Fraud: realistic card transactions for the fraud example bundle, with
//     a fixed population of cards and about 2% fraud-like ones. The fault
//     tests check the stream against its output, so it stays byte for byte
//     the same for a seed.
//   - Generic: events for any bundle, made from its declared inputs
//     (types, training ranges, categories, dotted paths), with optional
//     missing values and departures from the training data.
//   - Replay: events read back from a JSON Lines or CSV file.
//
// Both generators also make poison events (PoisonKinds), named by the
// reject reason the service must give them. Generators and readers are not
// safe for concurrent use; give each goroutine its own.
package gen
