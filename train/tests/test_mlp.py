"""mlp exporter tests: Keras refusals by layer name, folding against Keras's own predict, sklearn MLPs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline

from streamscore_export import ExportError, Schema, UnsupportedStepError, build_manifest, keras_pipeline, number, policy
from streamscore_export import mlp_model

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
keras = mlp_model.keras()

SCHEMA = Schema([number("a"), number("b"), number("c")])
BINARY = policy.binary(["no", "yes"])


def _x(n=64, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3))


def _export(model, tmp_path, output=BINARY):
    return build_manifest(model, name="t", schema=SCHEMA, output=output, out_dir=tmp_path)


def _seq(*layers, name="m"):
    return keras.Sequential([keras.Input((3,))] + list(layers), name=name)


@pytest.mark.parametrize("layer, what", [
    (keras.layers.Dense(4, activation="gelu", name="hidden"), "'hidden' (Dense): activation 'gelu'"),
    (keras.layers.Dense(4, activation="elu", name="h2"), "'h2' (Dense): activation 'elu'"),
    (keras.layers.LeakyReLU(name="leaky"), "'leaky' (LeakyReLU) is not supported"),
    (keras.layers.ReLU(max_value=6.0, name="relu6"), "'relu6' (ReLU): only the plain ReLU"),
    (keras.layers.Embedding(10, 2, name="emb"), "'emb' (Embedding) is not supported"),
])
def test_refuses_layers_by_name(layer, what, tmp_path):
    m = _seq(keras.layers.Dense(4, name="first"), layer, keras.layers.Flatten(name="flat"),
             keras.layers.Dense(1, activation="sigmoid"))
    with pytest.raises(UnsupportedStepError, match=r"Keras layer " + what.replace("(", r"\(").replace(")", r"\)")):
        _export(keras_pipeline(m), tmp_path)


def test_refuses_conv_rnn_and_multiple_inputs(tmp_path):
    conv = keras.Sequential([keras.Input((3, 1)), keras.layers.Conv1D(2, 2, name="conv"), keras.layers.Flatten(),
                             keras.layers.Dense(1, activation="sigmoid")])
    with pytest.raises(UnsupportedStepError, match="input shape"):
        _export(keras_pipeline(conv), tmp_path)
    a, b = keras.Input((2,)), keras.Input((1,))
    two = keras.Model([a, b], keras.layers.Dense(1, activation="sigmoid")(keras.layers.Concatenate()([a, b])))
    with pytest.raises(UnsupportedStepError, match="2 inputs and 1 outputs"):
        _export(keras_pipeline(two), tmp_path)
    x = keras.Input((3,))
    branch = keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(
        keras.layers.Add(name="add")([keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)])))
    with pytest.raises(UnsupportedStepError, match="'add' \\(Add\\) has 2 inputs"):
        _export(keras_pipeline(branch), tmp_path)


def test_refuses_custom_layer_and_trailing_norm(tmp_path):
    class Twice(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    with pytest.raises(UnsupportedStepError, match="custom layers"):
        _export(keras_pipeline(_seq(Twice(name="twice"), keras.layers.Dense(1, activation="sigmoid"))), tmp_path)
    with pytest.raises(UnsupportedStepError, match="cannot be folded"):
        _export(keras_pipeline(_seq(keras.layers.Dense(1, activation="sigmoid"), keras.layers.BatchNormalization())),
                tmp_path)


def test_refuses_task_mismatch_and_multilabel(tmp_path):
    with pytest.raises(ExportError, match="goes with task"):
        _export(keras_pipeline(_seq(keras.layers.Dense(1, activation="sigmoid"))), tmp_path,
                policy.multiclass(["a", "b", "c"]))
    with pytest.raises(UnsupportedStepError, match="multi-label"):
        _export(keras_pipeline(_seq(keras.layers.Dense(2, activation="sigmoid"))), tmp_path)


def _trained_norm_model():
    keras.utils.set_random_seed(0)
    x = _x(256).astype(np.float32)
    norm = keras.layers.Normalization()
    norm.adapt(x)
    m = _seq(norm, keras.layers.Dense(6), keras.layers.BatchNormalization(), keras.layers.Activation("tanh"),
             keras.layers.Dropout(0.3), keras.layers.Dense(5, activation="relu"), keras.layers.BatchNormalization(),
             keras.layers.Dense(3, activation="softmax"))
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0), epochs=3, verbose=0)
    return m


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_folding_matches_keras_predict(suffix, tmp_path):
    m = _trained_norm_model()
    path = str(tmp_path / ("m" + suffix))
    m.save(path)
    pipe = keras_pipeline(path)
    out = policy.multiclass(["a", "b", "c"])
    manifest = _export(pipe, tmp_path, out)
    doc = mlp_model.read(tmp_path, manifest["model"])
    assert [L["activation"] for L in doc["layers"]] == ["tanh", "relu", "softmax"]  # norm, BN, Dropout folded
    X = _x(200, seed=1)
    want = pipe.predict_proba(SCHEMA.frame([dict(zip("abc", r)) for r in X]))
    got = mlp_model.predict_scores(doc, X, "multiclass")
    assert np.max(np.abs(got - want)) < 1e-5


def test_keras_model_refuses_nan():
    pipe = keras_pipeline(_seq(keras.layers.Dense(1, activation="sigmoid")))
    with pytest.raises(ValueError, match="contains NaN"):
        pipe.predict_proba(np.array([[1.0, np.nan, 0.0]]))


def test_sklearn_mlps(tmp_path):
    X = _x(200)
    frame = SCHEMA.frame([dict(zip("abc", r)) for r in X])
    clf = Pipeline([("model", MLPClassifier(hidden_layer_sizes=(5,), activation="identity", max_iter=50,
                                            random_state=0))]).fit(frame, X[:, 0] > 0)
    manifest = _export(clf, tmp_path)
    doc = mlp_model.read(tmp_path, manifest["model"])
    assert doc["dtype"] == "float64" and [L["activation"] for L in doc["layers"]] == ["identity", "logistic"]
    assert np.max(np.abs(mlp_model.predict_scores(doc, X, "binary") - clf.predict_proba(frame))) < 1e-15
    poisson = Pipeline([("model", MLPRegressor(loss="poisson", max_iter=5, random_state=0))]).fit(frame, np.abs(X[:, 0]))
    with pytest.raises(UnsupportedStepError, match="output activation 'exp'"):
        _export(poisson, tmp_path, policy.regression())
    multi = Pipeline([("model", MLPRegressor(max_iter=5, random_state=0))]).fit(frame, X[:, :2])
    with pytest.raises(UnsupportedStepError, match="multi-output"):
        _export(multi, tmp_path, policy.regression())
