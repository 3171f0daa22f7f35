"""The messages the window (parent) and the engine process (child) exchange, and how they travel.

Messages are small frozen dataclasses of plain values (str, int, float, bytes, lists, dicts):
never exception or traceback objects, never PIL images or tensors. They travel as pickles over a
private socketpair (multiprocessing.connection's length-prefixed framing). Pickle is acceptable
here because both ends are our own code and the socket is private to the two processes: nothing
else can connect to it or write into it.

Kept free of torch, diffusers and PIL: the parent imports this module.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Literal

from desktop.engine.errors import EngineError, GenerationCancelled, ValidationError

# --- parent -> child ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    job_id: int
    request: dict  # GenerationRequest.to_dict() of a validated request


@dataclass(frozen=True)
class Cancel:
    job_id: int


@dataclass(frozen=True)
class Prepare:
    # Prepare carries an id like Run so that a Failed answer can say which question it answers.
    job_id: int
    model: str


@dataclass(frozen=True)
class Reconfigure:
    """New settings: the child frees its engine and builds a new one at the next job.

    Also the first message after start: it tells the child its settings and library.
    """

    settings: dict  # Settings.to_dict(); the OpenAI key never travels, the child reads it itself
    library_root: str | None = None  # None: the default library (DIFFUSION_STUDIO_HOME, ...)


@dataclass(frozen=True)
class Shutdown:
    """Cancel the running job at its next step, free the engine and exit."""


# --- child -> parent ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The child is up and reading; sent once, before anything heavy is imported."""

    pid: int


@dataclass(frozen=True)
class Progress:
    job_id: int
    step: int
    total: int
    elapsed_s: float
    # (width, height, RGB bytes) of the latents' preview, or None: the backend has none, or the
    # child dropped it to send at most ~10 previews a second.
    preview: tuple[int, int, bytes] | None = None


@dataclass(frozen=True)
class Finished:
    """The job's results are saved: the fields of a JobOutcome."""

    job_id: int
    row_ids: list[int]
    device: str
    loaded_model: str | None = None
    notes: list[str] = field(default_factory=list)


FailureKind = Literal["validation", "engine", "cancelled", "bug"]


@dataclass(frozen=True)
class Failed:
    job_id: int
    kind: FailureKind
    message: str  # one sentence a user can act on
    field: str | None = None  # validation only: the request field at fault


@dataclass(frozen=True)
class Prepared:
    job_id: int
    device: str
    model: str


# --- errors ------------------------------------------------------------------------------------


class WorkerDied(EngineError):
    """The engine process ended (crash, OOM killer, kill -9) before answering; its job is lost."""


def error_for(failure: Failed) -> EngineError:
    """The exception the parent raises for a child's Failed answer: the engine's own error types."""
    if failure.kind == "validation":
        return ValidationError(failure.field or "", failure.message)
    if failure.kind == "cancelled":
        return GenerationCancelled()
    return EngineError(failure.message)


def describe_exit(returncode: int | None) -> str:
    """How a process ended, in words: "killed by signal 9, perhaps out of memory"."""
    if returncode is None:
        return "it stopped answering"
    if returncode >= 0:
        return f"exit code {returncode}"
    number = -returncode
    if number == signal.SIGKILL:
        # The Linux OOM killer sends SIGKILL, and it is by far the likeliest sender.
        return f"killed by signal {number}, perhaps out of memory"
    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"killed by signal {number}"
    if number in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGFPE, signal.SIGILL):
        return f"crashed with signal {number}, {name}"
    return f"killed by signal {number}, {name}"


def died_message(returncode: int | None, consequence: str) -> str:
    """The one sentence a WorkerDied carries; consequence says what was lost and what happens next."""
    return f"the engine process stopped unexpectedly ({describe_exit(returncode)}); {consequence}"
