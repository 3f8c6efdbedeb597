"""Errors raised by the exporter."""


class ExportError(ValueError):
    """The fitted object cannot be written as a bundle (format_version 1)."""


class UnsupportedStepError(ExportError):
    """A pipeline step, or a setting of a step, has no equivalent in the bundle format.

    The message names the step (its name in the Pipeline / ColumnTransformer and its
    class) and says what is supported instead.
    """


class RejectedEvent(ValueError):
    """An event the bundle must send to the DLQ; ``reason`` is the DLQ reason."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
