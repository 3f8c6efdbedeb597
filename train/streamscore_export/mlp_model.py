"""Neural networks of dense layers -> the bundle's ``mlp`` model kind.

Two sources:

* scikit-learn ``MLPClassifier`` / ``MLPRegressor`` (alone or as the last step of a
  Pipeline): ``coefs_`` / ``intercepts_``, the hidden ``activation`` and
  ``out_activation_``, computed in float64 as sklearn does.
* a Keras 3 model (Sequential or functional, one input, one output) of ``Dense``
  layers, with ``Activation`` / ``ReLU`` / ``Softmax`` layers, ``Dropout`` (and the
  other noise layers: identity at inference) and ``BatchNormalization`` /
  ``Normalization`` folded into the neighbouring Dense weights. A Keras model has
  no feature pipeline of its own: wrap it with :func:`keras_pipeline`, which puts
  the fitted sklearn transformers that make its inputs in front of it, so that
  ``export_bundle`` and ``reference_rows`` treat it as any other Pipeline.

The model file (``model.json``) is JSON: numbers print exactly (shortest repr of
float64; a float32 weight is written as its exact value), it diffs in git and the
Go loader reads it with the standard library. Dense nets of the size this kind is
for (up to a few million weights, ~20 bytes each) load in well under a second, so
a binary layout would buy little. See docs/bundle.md, kind ``mlp``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline

from .errors import ExportError, UnsupportedStepError
from .policy import Output

FORMAT = "streamscore-mlp/1"
ACTIVATIONS = ("identity", "relu", "tanh", "logistic", "softmax")
# Keras activation function names -> the bundle's
KERAS_ACTIVATIONS = {"linear": "identity", "relu": "relu", "tanh": "tanh", "sigmoid": "logistic",
                     "softmax": "softmax"}
# Keras layers that are the identity at inference
KERAS_IDENTITY = ("Dropout", "GaussianNoise", "GaussianDropout", "AlphaDropout", "InputLayer")


def keras():
    """Import Keras; the pinned training stack has the JAX backend only."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras as k

    return k


# ---------------------------------------------------------------------------
# the sklearn-side wrapper of a Keras model


class KerasModel(BaseEstimator):
    """A fitted Keras model as the last step of an sklearn Pipeline (no ``fit``).

    ``predict_proba`` (classifiers) and ``predict`` (regressors) call the model's
    own ``predict`` on float32 input, as Keras casts it. Like sklearn's estimators it
    refuses NaN input ("Input X contains NaN"), which is what the bundle does with a
    missing model column.
    """

    def __init__(self, model=None):
        self.model = model

    def __sklearn_is_fitted__(self) -> bool:
        return True

    def fit(self, X, y=None):
        raise ExportError("KerasModel wraps a trained Keras model; train it with model.fit")

    def _model(self):
        m = self.model
        if isinstance(m, (str, os.PathLike)):
            m = self.model = keras().saving.load_model(os.fspath(m), compile=False)
        return m

    def _raw(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if np.isnan(X).any():
            raise ValueError("Input X contains NaN.")
        if np.isinf(X).any():
            raise ValueError("Input X contains infinity.")
        m = self._model()
        return np.asarray(m.predict(X.astype(np.float32), batch_size=max(len(X), 1), verbose=0))

    def predict_proba(self, X) -> np.ndarray:
        p = self._raw(X).astype(np.float64)
        if p.shape[1] == 1:  # one sigmoid unit: [1-p, p] (in float64, as the Go side does)
            return np.column_stack([1.0 - p[:, 0], p[:, 0]])
        return p

    def predict(self, X) -> np.ndarray:
        p = self._raw(X).astype(np.float64)
        return p[:, 0] if p.shape[1] == 1 else p


def keras_pipeline(model, features=None) -> Pipeline:
    """A Keras model (or the path of a ``.keras`` / legacy ``.h5`` file) behind its feature pipeline.

    ``features``: the fitted sklearn transformers that turn ``Schema.frame(events)`` into the
    model's input matrix (a ColumnTransformer, a Pipeline of transformers, or None when the
    model takes the schema's number inputs as they are). Returns a Pipeline that
    ``export_bundle`` and ``reference_rows`` accept.
    """
    if features is None:
        steps = []
    elif type(features) is Pipeline:
        steps = list(features.steps)
    else:
        steps = [("features", features)]
    return Pipeline(steps + [("model", KerasModel(model))])


# ---------------------------------------------------------------------------
# network -> layers


class _Layer:
    def __init__(self, w: np.ndarray, b: np.ndarray, act: str = "identity"):
        self.w, self.b, self.act = w, b, act


def sklearn_layers(where: str, est) -> tuple[list[_Layer], str]:
    if est.activation not in ACTIVATIONS:
        raise UnsupportedStepError(f"{where}: MLP activation {est.activation!r} is not supported; "
                                   f"supported: {', '.join(ACTIVATIONS)}")
    out_act = est.out_activation_
    if out_act not in ACTIVATIONS:  # 'exp' of MLPRegressor(loss="poisson")
        raise UnsupportedStepError(f"{where}: MLP output activation {out_act!r} is not supported; "
                                   f"supported: {', '.join(ACTIVATIONS)}")
    layers = []
    for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_)):
        last = i == len(est.coefs_) - 1
        layers.append(_Layer(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64),
                             out_act if last else est.activation))
    return layers, f"scikit-learn {_version('sklearn')} {type(est).__name__}"


def _version(module: str) -> str:
    import importlib

    return getattr(importlib.import_module(module), "__version__", "?")


def _chain(model) -> list:
    """The layers of a one-input, one-output Keras model, input to output; refuses branches."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedStepError(f"Keras model {model.name!r} has {len(model.inputs)} inputs and "
                                   f"{len(model.outputs)} outputs; the mlp kind takes one of each")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 2 or shape[1] is None:
        raise UnsupportedStepError(f"Keras model {model.name!r}: input shape {shape}; the mlp kind takes "
                                   f"(batch, features) vectors")
    ops = []
    t = model.outputs[0]
    while True:
        op, node_index, _ = t._keras_history
        if type(op).__name__ == "InputLayer":
            break
        node = op._inbound_nodes[node_index]
        ins = list(node.input_tensors)
        if len(ins) != 1:
            raise UnsupportedStepError(f"Keras layer {op.name!r} ({type(op).__name__}) has {len(ins)} inputs; "
                                       f"the mlp kind takes a chain of layers")
        ops.append(op)
        t = ins[0]
    ops.reverse()
    if any(o is not model.get_layer(o.name) for o in ops):
        raise UnsupportedStepError(f"Keras model {model.name!r}: nested models are not supported")
    return ops


def _keras_activation(layer, fn) -> str:
    name = getattr(fn, "__name__", None)
    if name not in KERAS_ACTIVATIONS:
        raise UnsupportedStepError(f"Keras layer {layer.name!r} ({type(layer).__name__}): activation "
                                   f"{name or fn!r} is not supported; supported: {', '.join(KERAS_ACTIVATIONS)}")
    return KERAS_ACTIVATIONS[name]


def _np(v) -> np.ndarray:
    return np.asarray(keras().ops.convert_to_numpy(v), dtype=np.float64)


def keras_layers(model) -> tuple[list[_Layer], str, str]:
    """(layers, dtype, source) of a Keras model; BatchNormalization / Normalization folded."""
    k = keras()
    if isinstance(model, (str, os.PathLike)):
        model = k.saving.load_model(os.fspath(model), compile=False)
    dtypes = set()
    layers: list[_Layer] = []
    pending = None  # (scale, shift): an affine map not yet folded into a Dense
    sealed = True  # the last Dense has an activation (or there is none): an affine map cannot fold back into it
    for op in _chain(model):
        tn = type(op).__name__
        where = f"Keras layer {op.name!r} ({tn})"
        if tn in KERAS_IDENTITY:
            continue
        if type(op).__module__.split(".")[0] != "keras":
            raise UnsupportedStepError(f"{where}: custom layers are not supported")
        pol = getattr(op, "dtype_policy", None)
        cd = getattr(pol, "compute_dtype", None) or getattr(op, "compute_dtype", "float32")
        if cd not in ("float32", "float64") or getattr(pol, "variable_dtype", cd) != cd:
            raise UnsupportedStepError(f"{where}: dtype policy {getattr(pol, 'name', cd)!r}; "
                                       f"only float32 or float64 networks are supported")
        dtypes.add(cd)
        if tn == "Dense":
            if getattr(op, "quantization_mode", None):
                raise UnsupportedStepError(f"{where}: quantized Dense ({op.quantization_mode}) is not supported")
            w = _np(op.kernel)
            b = _np(op.bias) if op.use_bias else np.zeros(w.shape[1])
            if pending is not None:  # x*s + t into this layer: x @ (s W) + (t @ W + b)
                s, t = pending
                b = t @ w + b
                w = s[:, None] * w
                pending = None
            act = _keras_activation(op, op.activation)
            layers.append(_Layer(w, b, act))
            sealed = act != "identity"
        elif tn in ("Activation", "ReLU", "Softmax"):
            if tn == "ReLU" and (op.max_value is not None or float(op.negative_slope) != 0 or float(op.threshold) != 0):
                raise UnsupportedStepError(f"{where}: only the plain ReLU (no max_value, negative_slope, threshold)")
            if tn == "Softmax" and op.axis not in (-1, 1):
                raise UnsupportedStepError(f"{where}: softmax over axis {op.axis}")
            act = {"ReLU": "relu", "Softmax": "softmax"}.get(tn) or _keras_activation(op, op.activation)
            if act == "identity":
                continue
            if pending is not None or not layers or sealed:
                raise UnsupportedStepError(f"{where}: an activation must follow a Dense layer without one "
                                           f"(nothing but Dropout or a foldable normalization between)")
            layers[-1].act = act
            sealed = True
        elif tn in ("BatchNormalization", "Normalization"):
            s, t = _affine(op, where)
            if not sealed and pending is None:  # fold back: (x W + b) s + t
                layers[-1].w = layers[-1].w * s[None, :]
                layers[-1].b = layers[-1].b * s + t
            elif pending is None:
                pending = (s, t)
            else:
                s0, t0 = pending
                pending = (s0 * s, t0 * s + t)
        else:
            raise UnsupportedStepError(f"{where} is not supported by the mlp kind; supported: Dense, Activation, "
                                       f"ReLU, Softmax, Dropout, BatchNormalization, Normalization")
    if pending is not None:
        raise UnsupportedStepError(f"Keras model {model.name!r}: a normalization after the last activation "
                                   f"cannot be folded into a Dense layer")
    if not layers:
        raise UnsupportedStepError(f"Keras model {model.name!r} has no Dense layer")
    if len(dtypes) != 1:
        raise UnsupportedStepError(f"Keras model {model.name!r} mixes dtypes {sorted(dtypes)}")
    return layers, dtypes.pop(), f"keras {k.__version__} ({k.backend.backend()}) {type(model).__name__} {model.name!r}"


def _affine(op, where: str) -> tuple[np.ndarray, np.ndarray]:
    """BatchNormalization / Normalization at inference as x * s + t (float64)."""
    tn = type(op).__name__
    if tn == "BatchNormalization":
        if op.axis not in (-1, 1):
            raise UnsupportedStepError(f"{where}: axis {op.axis}; only the feature axis")
        # keras.ops.batch_normalization: x * (gamma / sqrt(var + eps)) + (beta - mean * that)
        var, mean = _np(op.moving_variance), _np(op.moving_mean)
        s = 1.0 / np.sqrt(var + float(op.epsilon))
        if op.scale:
            s = s * _np(op.gamma)
        t = -mean * s
        if op.center:
            t = t + _np(op.beta)
        return s, t
    if getattr(op, "invert", False):
        raise UnsupportedStepError(f"{where}: invert=True is not supported")
    if tuple(np.atleast_1d(op.axis)) not in ((-1,), (1,)):
        raise UnsupportedStepError(f"{where}: axis {op.axis}; only the feature axis")
    # (x - mean) / max(sqrt(var), epsilon)
    mean, var = _np(op.mean).reshape(-1), _np(op.variance).reshape(-1)
    s = 1.0 / np.maximum(np.sqrt(var), keras().backend.epsilon())
    return s, -mean * s


# ---------------------------------------------------------------------------
# export


def is_mlp(est) -> bool:
    return type(est) in (MLPClassifier, MLPRegressor, KerasModel)


def export(where: str, est, n_cols: int, output: Output, out_dir: Path | None, model_file: str) -> dict:
    """Write the model file for an MLP step; return the manifest's model object."""
    if type(est) is KerasModel:
        layers, dtype, source = keras_layers(est._model())
    else:
        layers, source = sklearn_layers(where, est)
        dtype = "float64"
    _check(where, est, layers, n_cols, output)
    doc = {"format": FORMAT, "source": source, "dtype": dtype, "inputs": n_cols, "layers": [
        {"activation": L.act, "weights": _values(L.w, dtype), "bias": _values(L.b, dtype)} for L in layers]}
    if out_dir is not None:
        with open(Path(out_dir) / model_file, "w", encoding="utf-8") as f:
            json.dump(doc, f, separators=(",", ":"), allow_nan=False)
            f.write("\n")
    return {"kind": "mlp", "file": model_file}


def _values(a: np.ndarray, dtype: str) -> list:
    if dtype == "float32":
        a = a.astype(np.float32)  # folded weights are rounded once, here
    return a.astype(np.float64).tolist()


def _check(where: str, est, layers: list[_Layer], n_cols: int, output: Output) -> None:
    if layers[0].w.shape[0] != n_cols:
        raise ExportError(f"{where}: the network takes {layers[0].w.shape[0]} inputs, "
                          f"the pipeline gives {n_cols} columns")
    for i, L in enumerate(layers[:-1]):
        if L.act == "softmax":
            raise UnsupportedStepError(f"{where}: softmax in hidden layer {i}")
    last = layers[-1]
    units = last.w.shape[1]
    if last.act == "logistic" and units == 1:
        tasks, k = ("binary", "regression"), 2
    elif last.act == "softmax" and units >= 2:
        tasks, k = ("binary",) if units == 2 else ("multiclass",), units
    elif units == 1 and last.act != "softmax":
        tasks, k = ("regression",), 1
    else:
        raise UnsupportedStepError(f"{where}: the last layer has {units} units with activation {last.act}: "
                                   f"multi-label and multi-output networks are not supported")
    if output.task not in tasks or output.n_outputs != k:
        raise ExportError(f"{where}: the network's output ({units} x {last.act}) goes with task "
                          f"{' or '.join(tasks)} with {k} output(s), not {output.task!r} with {output.n_outputs}")
    classes = getattr(est, "classes_", None)
    if classes is not None and len(classes) != k:
        raise ExportError(f"{where}: {len(classes)} classes in classes_ but {k} outputs")


def forward(doc: dict, X: np.ndarray) -> np.ndarray:
    """The model file evaluated in numpy (streamscore_export.evaluate): the network's raw outputs."""
    from scipy.special import expit

    dt = np.float32 if doc["dtype"] == "float32" else np.float64
    a = np.asarray(X, dtype=np.float64).astype(dt)
    for L in doc["layers"]:
        a = a @ np.asarray(L["weights"], dtype=dt)
        a += np.asarray(L["bias"], dtype=dt)
        act = L["activation"]
        if act == "relu":
            np.maximum(a, 0, out=a)
        elif act == "tanh":
            np.tanh(a, out=a)
        elif act == "logistic":
            expit(a, out=a)
        elif act == "softmax":
            e = np.exp(a - a.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
    return a.astype(np.float64)


def describe(doc: dict) -> str:
    """One line for an example's README."""
    shape = "-".join(str(n) for n in [doc["inputs"]] + [len(L["bias"]) for L in doc["layers"]])
    acts = ", ".join(L["activation"] for L in doc["layers"])
    return f"MLP {doc['dtype']} {shape} ({acts}), from {doc['source']}"


def predict_scores(doc: dict, X: np.ndarray, task: str) -> np.ndarray:
    """What the bundle scores: [1-p, p] for one logistic unit under a binary task, else the outputs."""
    p = forward(doc, X)
    if task == "binary" and p.shape[1] == 1:
        return np.column_stack([1.0 - p[:, 0], p[:, 0]])
    return p


def read(bundle_dir, model: dict) -> dict:
    return json.loads((Path(bundle_dir) / model["file"]).read_text())


__all__ = ["KerasModel", "keras_pipeline", "keras", "is_mlp", "export", "forward", "predict_scores", "describe",
           "read"]
