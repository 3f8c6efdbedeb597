"""The bundle's ``output`` section: task, classes and the decision policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import ExportError


@dataclass
class Output:
    task: str  # binary | multiclass | regression
    classes: list[str] | None = None
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    default_label: str | None = None

    def __post_init__(self):
        if self.classes is not None:
            # Class names are strings in a bundle; sklearn's classes_ may be
            # integers (0, 1), which print as "0", "1".
            self.classes = [str(c) for c in self.classes]
        if self.task not in ("binary", "multiclass", "regression"):
            raise ExportError(f"output task must be binary, multiclass or regression, got {self.task!r}")
        if self.task == "binary" and (self.classes is None or len(self.classes) != 2):
            raise ExportError("binary output needs exactly 2 classes [negative, positive]")
        if self.task == "multiclass" and (self.classes is None or len(self.classes) < 2):
            raise ExportError("multiclass output needs the class names")
        if self.task == "multiclass" and self.thresholds:
            raise ExportError("multiclass output takes no thresholds (label = most probable class)")
        if self.task == "regression" and self.classes:
            raise ExportError("regression output has no classes")
        if self.thresholds and self.default_label is None:
            raise ExportError("thresholds need a default_label")
        self.thresholds = [(float(a), str(l)) for a, l in self.thresholds]

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task in ("binary", "multiclass") else 1

    def to_json(self) -> dict:
        d: dict = {"task": self.task}
        if self.classes is not None:
            d["classes"] = list(self.classes)
        if self.thresholds:
            d["thresholds"] = [{"above": a, "label": l} for a, l in self.thresholds]
        if self.default_label is not None:
            d["default_label"] = self.default_label
        return d

    def score(self, scores: Sequence[float]) -> float:
        if self.task == "binary":
            return float(scores[1])
        if self.task == "multiclass":
            return float(scores[int(np.argmax(scores))])
        return float(scores[0])

    def label(self, scores: Sequence[float]) -> str | None:
        """The label the service must emit for these scores (docs/bundle.md, output)."""
        if self.task == "multiclass":
            return self.classes[int(np.argmax(scores))]  # first maximum on ties
        s = self.score(scores)
        for above, lab in self.thresholds:
            if s > above:
                return lab
        if self.thresholds:
            return self.default_label
        if self.task == "binary":
            return self.classes[1] if s > 0.5 else self.classes[0]
        return self.default_label


def binary(classes: Sequence[str], thresholds: Sequence[tuple[float, str]] = (), default_label: str | None = None) -> Output:
    """classes = [negative, positive]; score = P(positive)."""
    return Output("binary", list(classes), list(thresholds), default_label)


def multiclass(classes: Sequence[str]) -> Output:
    return Output("multiclass", list(classes))


def regression(thresholds: Sequence[tuple[float, str]] = (), default_label: str | None = None) -> Output:
    return Output("regression", None, list(thresholds), default_label)
