package schemas

// PredictionRecord is a prediction as a consumer decodes the JSON output
// (JSONEncoder; the same shape as prediction.avsc read as JSON): the
// PostgreSQL sink, tools and tests use it, so the shape is written once.
// Optional fields are pointers: nil is JSON null.
type PredictionRecord struct {
	Key           *string            `json:"key"`
	EventID       *string            `json:"event_id"`
	EventTime     *int64             `json:"event_time"` // epoch milliseconds
	ScoredTime    int64              `json:"scored_time"`
	Model         string             `json:"model"`
	ModelVersion  string             `json:"model_version"`
	Score         float64            `json:"score"`
	Label         *string            `json:"label"`
	Probabilities []ClassProbability `json:"probabilities"`
	Features      *[]FeatureValue    `json:"features"` // nil unless output.echo_features
}

// ClassProbability is one entry of PredictionRecord.Probabilities.
type ClassProbability struct {
	Class       string  `json:"class"`
	Probability float64 `json:"probability"`
}

// FeatureValue is one echoed model column; a nil Value is a missing one.
type FeatureValue struct {
	Name  string   `json:"name"`
	Value *float64 `json:"value"`
}
