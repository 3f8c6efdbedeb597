"""streamscore_export: fitted scikit-learn / XGBoost pipelines -> streamscore model bundles.

    from streamscore_export import Schema, number, category, timestamp, boolean, derive, policy
    from streamscore_export import export_bundle, reference_rows, write_reference

    schema = Schema([number("amount"), category("merchant_category"), timestamp("timestamp")])
    X = schema.frame(events)                       # the same row layout the Go service decodes
    pipe = Pipeline([("hour", derive.datepart("timestamp", "hour")), ("prep", ColumnTransformer(...)),
                     ("model", XGBClassifier(...))]).fit(X, y)
    output = policy.binary(["Low Risk", "High Risk"])
    manifest = export_bundle(pipe, "examples/x", name="x", schema=schema, output=output)
    write_reference("examples/x", manifest, reference_rows(pipe, schema, output, events))

See docs/bundle.md for the format and train/README.md for the supported steps.
"""

from . import derive, evaluate, policy
from .errors import ExportError, RejectedEvent, UnsupportedStepError
from .exporter import FORMAT_VERSION, build_manifest, export_bundle, trace
from .mlp_model import KerasModel, keras_pipeline
from .policy import Output
from .reference import reference_rows, write_jsonl, write_reference
from .schema import Input, Schema, boolean, category, number, timestamp

__all__ = [
    "FORMAT_VERSION", "ExportError", "Input", "KerasModel", "Output", "RejectedEvent", "Schema", "UnsupportedStepError",
    "boolean", "build_manifest", "category", "derive", "evaluate", "export_bundle", "keras_pipeline", "number", "policy",
    "reference_rows", "timestamp", "trace", "write_jsonl", "write_reference",
]
