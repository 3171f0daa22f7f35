"""Errors the engine raises. Each message is one sentence a user can act on."""

from __future__ import annotations


class EngineError(Exception):
    """A generation failed for a reason the user can act on (model missing, key rejected, ...)."""


class ValidationError(EngineError):
    """The request is invalid; nothing was loaded, sent or written."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class GenerationCancelled(EngineError):
    """The user cancelled; nothing was produced."""

    def __init__(self) -> None:
        super().__init__("Generation cancelled.")
