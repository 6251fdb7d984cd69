"""The contract between the platform and every engine.

An engine declares the models it serves (:class:`ModelSpec`) and runs one generation at a time
given a :class:`RunContext`. It knows nothing of HTTP, credits, webhooks or the database: it reads
its validated input, reports progress, checks for cancellation, fetches inputs through the
context's fetcher, writes files into its work directory and hands them over with
:meth:`RunContext.add_output`. It signals failure by raising an :class:`EngineError` subclass,
which the job runner turns into the generation's ``error``.

``run`` may be a plain function (the runner calls it in a worker thread, so blocking code such as
NumPy, PyAV or a C library never stalls the API) or a coroutine function (for engines that wait
on the network).
"""

from __future__ import annotations

import asyncio
import math
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel

InputModel = type[BaseModel]
OutputKind = Literal["image", "video", "audio", "file"]
PriceUnit = Literal["generation", "output", "second", "output_second"]

_OUTPUT_KIND_BY_TYPE: dict[str, OutputKind] = {
    "image": "image",
    "image-edit": "image",
    "lipsync": "video",
    "avatar": "video",
    "video": "video",
    "speech": "audio",
    "music": "audio",
}


class EngineError(Exception):
    """A job's own failure. ``code`` becomes ``error.code`` on the generation."""

    code = "engine_error"

    def __init__(self, message: str = "The engine failed.") -> None:
        self.message = message
        super().__init__(message)


class InvalidInput(EngineError):
    """The input cannot be processed (corrupt media, unsupported format, out of bounds)."""

    code = "invalid_input"


class ProviderError(EngineError):
    """An upstream provider failed. ``retry_after`` is its hint, when it gave one."""

    code = "provider_error"

    def __init__(self, message: str = "The provider failed.", retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class InvalidPrompt(EngineError):
    """A provider refused the request under its content policy (seed 003's ERR_INVALID_PROMPT).
    Like invalid input it is the request's fault: the job fails and is refunded, and a route
    list never fails over to another provider for it."""

    code = "invalid_prompt"


class JobTimeout(EngineError):
    code = "job_timeout"


class JobCancelled(EngineError):
    """Raised by :meth:`RunContext.check_cancelled`; engines let it propagate."""

    code = "cancelled"


class InputFetcher(Protocol):
    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        """Download ``url`` into the work directory and return the local path (blocking)."""
        ...


@dataclass(frozen=True)
class PlannedOutput:
    """The shape of one output, known before any heavy work: what the live engine will hand over
    for this input, and so what the sandbox's placeholder must be.

    ``extra`` holds the output's own fields (the keys the live output will carry; values are the
    real ones where they are cheap to know, else plausible placeholders). ``duration_tolerance_s``
    is non-zero only where the length cannot be known without doing the work (speech: it depends
    on how the voice pronounces the text); the live length is then within that much.
    ``size_estimated`` is true where only a hosted provider decides the exact frame (a video
    that keeps its first frame's aspect ratio at the provider's own resolution): ``width`` and
    ``height`` are then what the provider's documentation implies, and the live frame may differ.
    """

    content_type: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: int | Fraction | None = None  # video; a fraction keeps a 29.97 source's rate exact
    has_alpha: bool = False  # image: an alpha channel (RGBA)
    has_audio: bool = False  # video: an audio track
    extra: Mapping[str, Any] = field(default_factory=dict)
    duration_tolerance_s: float = 0.0
    size_estimated: bool = False
    # Audio files, and video sound tracks: what a player or a mixer downstream gets. None is the
    # sandbox's usual (24 kHz for an audio file, 48 kHz for a track; one channel).
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class PlannedFailure:
    """One unit of a multi-output job that will fail alone (an unreadable batch item): what the
    engine passes to :meth:`RunContext.output_failed`."""

    code: str
    message: str
    extra: Mapping[str, Any] = field(default_factory=dict)


Planned = PlannedOutput | PlannedFailure
# The worker pools a model may name (``ModelSpec.pool``): ``cpu``, ``gpu`` and ``io`` are a few
# slots each with a thread pool for blocking code; ``remote`` is for coroutine engines that wait
# on a hosted provider's network: hundreds of slots, since a waiting job holds no thread.
POOLS = ("cpu", "gpu", "io", "remote")
REMOTE_POOL = "remote"
# (validated input, the job's input fetcher) → the outputs, in order. It may fetch inputs to read
# their headers (size, duration, transparency) and raises InvalidInput where the engine would.
OutputPlanner = Callable[[BaseModel, InputFetcher], Sequence[Planned]]


@dataclass(frozen=True)
class StepUse:
    """A model of another engine that a composition will run as a step for this input (see
    :mod:`mediastudio.engines.compose`), declared so that the job is priced and checked for it
    when it is created, not when the step fails.

    ``field`` is the composition's input field that names the step's model; when the request
    leaves it out, the catalog picks its default model of ``type`` and writes its id there, so
    the job runs the model it was priced with (a retry too). ``input`` is what the step will
    be given (the catalog validates it against the step's model: a model named for the step
    that cannot take it is the request's 400).
    """

    type: str
    field: str
    input: Mapping[str, Any]


# (validated input) → the models a job on it runs as steps; none for most inputs.
StepPlanner = Callable[[BaseModel], Sequence[StepUse]]


@dataclass(frozen=True)
class StepRequirement:
    """A step model that only some inputs need (a commercial without product images needs an
    image model; one with them does not), so it cannot make the whole model unavailable: the
    catalog lists it with the model, saying whether a model of ``type`` that takes ``input``
    (what the step is given, as in :class:`StepUse`) can run for the caller, and why not.
    ``when`` says which inputs need it, in words."""

    type: str
    field: str
    when: str
    input: Mapping[str, Any]


@dataclass(frozen=True)
class Deprecation:
    """A provider's announced end of a model: from ``shutdown_date`` (a UTC day) on it no
    longer answers, so the catalog retires the model that day (``catalog/lifecycle.py``);
    until then it runs and is listed as deprecated. ``replacement`` is the catalog id to move
    to."""

    shutdown_date: date
    replacement: str


@dataclass(frozen=True)
class ModelSpec:
    """One model in the catalog.

    ``input_model`` is a strict pydantic model: it validates requests, and its JSON Schema is what
    ``GET /models/{id}`` publishes. ``credits`` is the price per ``price_unit`` (one generation,
    one requested output, one second of requested duration, or one second of what the job made).

    ``output_second`` is for models whose length is known only once they have run (a lip-sync
    or a talking head as long as its sound): a job reserves ``max_output_s`` seconds and is
    charged for the seconds of its outputs, rounded up, the rest refunded when it ends.

    ``plan`` says what the outputs for a validated input will be (count, type, size, length,
    alpha, fields) without doing the work: the sandbox engine renders its placeholders to exactly
    that plan, so sandbox outputs have the live shapes. A model without one gets the sandbox's
    generic placeholder for its ``kind``.

    ``uses`` says which other models a job on an input will run as steps (:class:`StepUse`):
    the job then costs its own price plus theirs, and a live key is refused at once (503
    ``model_unavailable``) when one of them cannot run here.

    ``extra_credits`` prices steps that are not catalog models (a commercial's script written
    by a chat model): credits added to the job's price for an input, quoted and reserved with it.

    ``step_requirements`` are step models only some inputs need (:class:`StepRequirement`),
    listed by the catalog with whether they can run.

    ``deprecation`` is the provider's announced shutdown (:class:`Deprecation`), if any.
    """

    id: str
    name: str
    type: str
    input_model: InputModel
    credits: int
    description: str = ""
    category: str = ""
    price_unit: PriceUnit = "generation"
    pool: str = "cpu"
    timeout_s: float = 600.0
    output_kind: OutputKind | None = None
    plan: OutputPlanner | None = None
    uses: StepPlanner | None = None
    extra_credits: Callable[[BaseModel], int] | None = None
    step_requirements: tuple[StepRequirement, ...] = ()
    deprecation: Deprecation | None = None
    max_output_s: float | None = None

    def __post_init__(self) -> None:
        if (self.price_unit == "output_second") != (self.max_output_s is not None):
            raise ValueError(f"{self.id}: max_output_s goes with price_unit 'output_second'")

    @property
    def kind(self) -> OutputKind:
        return self.output_kind or _OUTPUT_KIND_BY_TYPE.get(self.type, "file")

    @property
    def reserved_seconds(self) -> int | None:
        """The seconds an ``output_second`` job (or step) reserves: its longest output, rounded
        up; None for models priced otherwise (nothing is settled by the second)."""
        if self.price_unit != "output_second":
            return None
        return max(1, math.ceil(self.max_output_s or 1))

    def units(self, validated: BaseModel) -> int:
        """How many price units this input costs (at least one)."""
        if self.price_unit == "output":
            return max(1, int(getattr(validated, "num_outputs", 1) or 1))
        if self.price_unit == "second":
            return max(1, math.ceil(float(getattr(validated, "duration", 1) or 1)))
        if self.reserved_seconds is not None:
            return self.reserved_seconds
        return 1

    def units_made(self, durations_s: Sequence[float | None], reserved_units: int) -> int:
        """The units a finished job is charged for: for ``output_second``, its outputs' seconds
        rounded up, at least one and at most what was reserved (an output without a length
        pays in full); for every other unit, what was reserved."""
        if self.price_unit != "output_second":
            return reserved_units
        if not durations_s or any(duration is None for duration in durations_s):
            return reserved_units
        seconds = sum(duration for duration in durations_s if duration is not None)
        return min(reserved_units, max(1, math.ceil(seconds - 1e-6)))


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str | None = None

    @classmethod
    def ok(cls) -> Availability:
        return cls(True)

    @classmethod
    def missing(cls, reason: str) -> Availability:
        return cls(False, reason)


@dataclass
class OutputFile:
    """A finished output handed from an engine to the runner."""

    path: Path
    content_type: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Voice:
    """A voice a speech model offers (``GET /api/v1/voices``): its id is what the model's
    ``voice`` input takes; ``languages`` are codes it speaks, its main language first."""

    id: str
    name: str
    languages: tuple[str, ...]
    gender: str | None = None


# Why a job was told to stop (``RunContext.cancel_reason``). After ``shutdown`` (the process is
# stopping; the job goes back to the queue) or ``lost`` (another worker took the job over) the
# job will run again: work started elsewhere (a provider's prediction) must be left running
# for that run to resume. After ``cancelled`` or ``timeout`` nobody will: stop it.
STOP_CANCELLED = "cancelled"
STOP_TIMEOUT = "timeout"
STOP_SHUTDOWN = "shutdown"
STOP_LOST = "lost"
RESUMABLE_STOPS = frozenset({STOP_SHUTDOWN, STOP_LOST})

# The one checkpoint entry the platform reads: a list of the job's attempts on hosted providers
# (``{route, provider, outcome, error_code, error, latency_ms, job_id, started_at}``), which the
# generation publishes as ``attempts``. An engine that fails over between providers stores it
# with :meth:`RunContext.remember` as each attempt ends.
ATTEMPTS_KEY = "attempts"


class RunContext(Protocol):
    """What an engine may see and do while it runs one generation."""

    generation_id: str
    model: ModelSpec
    input: BaseModel
    sandbox: bool
    workdir: Path
    fetcher: InputFetcher
    # The event loop the platform runs on (None outside it, e.g. an engine called directly):
    # a plain engine, in its worker thread, runs a coroutine engine's model as a step there.
    loop: asyncio.AbstractEventLoop | None

    @property
    def cancelled(self) -> bool: ...

    @property
    def cancel_reason(self) -> str | None:
        """Why the job was told to stop (one of the ``STOP_*`` values), or None."""
        ...

    def recall(self, key: str) -> Any:
        """What an earlier run of this job stored under ``key`` with :meth:`remember`, or None
        (a job runs again after its worker stopped or died)."""
        ...

    async def remember(self, key: str, value: Any) -> None:
        """Store a JSON value with the job, durably, before going on: a provider's job id, so
        that a restarted job polls it instead of submitting (and paying) twice. For coroutine
        engines. If the job was taken away meanwhile the value is not stored and the job is
        marked cancelled (see :attr:`cancel_reason`)."""
        ...

    def note(self, key: str, value: Any) -> None:
        """Keep a JSON value with the job without a database write of its own: it is stored
        with the next :meth:`remember`, or with the job's end. Lost if the process stops before
        either, so only for what a rerun can do without (a finished attempt's record): it
        spares a write per job where hundreds of jobs share one SQLite writer."""
        ...

    def served_by(self, provider: str) -> None:
        """Name the hosted provider doing this job's work (the generation's ``provider``); it
        is stored with the next :meth:`remember` and when the job ends."""
        ...

    def step_made(self, step: str, model_id: str, seconds: float | None) -> None:
        """A composition's step ``step`` ran ``model_id`` and got outputs ``seconds`` long in
        all (None: a length is unknown). Called by :class:`~mediastudio.engines.compose.
        Composition` for every step that gave outputs, from any thread; engines know no
        credits: the runner settles steps priced by the second with it (docs/engines.md)."""
        ...

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if the job was cancelled or timed out."""
        ...

    def progress(self, fraction: float) -> None:
        """Report progress in 0.0..1.0; cheap, callable from any thread."""
        ...

    def output_path(self, suffix: str) -> Path:
        """A fresh file path inside the work directory, e.g. ``output_path('.png')``."""
        ...

    def add_output(self, output: OutputFile) -> None: ...

    def output_failed(self, code: str, message: str, **extra: Any) -> None:
        """One unit of a multi-output job failed alone (the job may end partially_completed).
        ``extra`` (JSON values, e.g. the unit's ``index``) is kept with the failure: the job's
        ``error.failures`` lists every failure with its extra fields."""
        ...


class Engine(ABC):
    """Subclass this and register an instance from your package's entry point."""

    name: str

    @abstractmethod
    def models(self) -> Sequence[ModelSpec]: ...

    def availability(self, model: ModelSpec) -> Availability:
        """Whether ``model`` can run here with a live key (weights present, provider key set…)."""
        return Availability.ok()

    def voices(self, model: ModelSpec) -> Sequence[Voice]:
        """The voices ``model`` speaks with, for speech engines; none by default."""
        return ()

    async def fetch_voices(self, model: ModelSpec) -> Sequence[Voice]:
        """:meth:`voices`, for an engine that must ask someone first (a provider's voice list:
        ElevenLabs' are the account's own). The voices' listing awaits this one."""
        return self.voices(model)

    def resolve(self, model_id: str, type_: str | None) -> ModelSpec | None:
        """A model this engine serves by pattern rather than by list (any
        ``replicate/<owner>/<name>``), as a model of ``type_`` (the request's type; None when
        it names none). Such models are not listed. None by default."""
        return None

    def serving(self, alias: str) -> Sequence[ModelSpec]:
        """This engine's models that serve the catalog alias ``alias`` (``flux-schnell``) before
        its provider routes: a local model registered as serving it. The alias's engine runs
        them as its first routes, through this engine's ``run``. None by default."""
        return ()

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to release by default
        """Release what the engine holds open (HTTP connections) when the platform stops."""

    @abstractmethod
    def run(self, ctx: RunContext) -> Awaitable[None] | None: ...
