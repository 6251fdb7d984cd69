"""Compositions run other models as steps: progress spans, cancellation, failures, outputs."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from mediastudio.engines import compose
from mediastudio.engines.compose import Composition, StepFailed
from mediastudio.engines.contract import (
    Engine,
    EngineError,
    JobCancelled,
    ModelSpec,
    OutputFile,
    RunContext,
)
from mediastudio.engines.registry import EngineRegistry
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher
from tests.conftest import make_settings


class Nothing(BaseModel):
    pass


def context(
    tmp_path: Path, *, sandbox: bool = False, loop: asyncio.AbstractEventLoop | None = None
) -> JobContext:
    spec = ModelSpec("test/composition", "Composition", "commercial", Nothing, 1)
    return JobContext(
        generation_id="gen_test",
        model=spec,
        input=Nothing(),
        sandbox=sandbox,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
        loop=loop,
    )


@pytest.fixture
def registry(tmp_path: Path) -> EngineRegistry:
    return EngineRegistry.discover(make_settings(tmp_path / "data"))


def test_steps_return_their_files_and_fill_the_progress_bar_in_order(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    ctx = context(tmp_path)
    steps = Composition(ctx, registry, {"voice": 1, "music": 1, "mux": 2})
    voice = steps.run_model("voice", "fake/speech", {"text": "hello there", "output_format": "wav"})
    assert ctx.percent == 25
    music = steps.run_model("music", "fake/music", {"prompt": "calm", "duration": 5})
    assert ctx.percent == 50
    with steps.stage("mux") as progress:
        progress(0.5)
        assert ctx.percent == 75
    assert ctx.percent == 100
    assert voice[0].path.is_file() and voice[0].path.suffix == ".wav"
    assert music[0].path.is_file() and music[0].duration_s == 5
    assert ctx.outputs == []  # step files are not the job's outputs
    assert voice[0].path.parent == tmp_path / "step-voice"


def test_a_failing_step_fails_the_composition_with_its_code(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    steps = Composition(context(tmp_path), registry, {"voice": 1})
    with pytest.raises(StepFailed) as failed:
        steps.run_model("voice", "fake/speech", {"text": "[fail:invalid_input] no"})
    assert failed.value.code == "invalid_input"


def test_cancellation_reaches_the_steps(tmp_path: Path, registry: EngineRegistry) -> None:
    ctx = context(tmp_path)
    ctx.cancel("user")
    steps = Composition(ctx, registry, {"voice": 1})
    with pytest.raises(JobCancelled):
        steps.run_model("voice", "fake/speech", {"text": "hello"})


def test_unknown_steps_models_and_bad_inputs_are_engine_errors(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    steps = Composition(context(tmp_path), registry, {"voice": 1})
    with pytest.raises(ValueError, match="unknown step"):
        steps.run_model("music", "fake/music", {"prompt": "x"})
    with pytest.raises(Exception, match="not installed"):
        steps.run_model("voice", "nobody/nothing", {})
    with pytest.raises(Exception, match="Invalid input"):
        steps.run_model("voice", "fake/speech", {"text": ""})


# Coroutine steps: a provider engine's model, run on the loop while the composition's thread
# waits --------------------------------------------------------------------------------------


class Wait(BaseModel):
    seconds: float = 0.0
    heed_cancel: bool = True  # False: a step that never looks at the flag


class Remote(Engine):
    """A coroutine engine, as the providers engine is: waits ``seconds``, then writes a file."""

    name = "remote-test"

    def __init__(self) -> None:
        self.thread: int | None = None
        self.started = threading.Event()
        self.task: asyncio.Task[Any] | None = None
        self.saw_cancel = False
        self.cancelled_on_loop = False

    def models(self) -> list[ModelSpec]:
        return [ModelSpec("test/remote", "Remote", "transcription", Wait, 1)]

    async def run(self, ctx: RunContext) -> None:
        assert isinstance(ctx.input, Wait)
        self.thread, self.task = threading.get_ident(), asyncio.current_task()
        self.started.set()
        try:
            waited = 0.0
            while waited < ctx.input.seconds:
                await asyncio.sleep(0.01)
                waited += 0.01
                if ctx.input.heed_cancel and ctx.cancelled:
                    self.saw_cancel = True
                    ctx.check_cancelled()
        except asyncio.CancelledError:
            self.cancelled_on_loop = True
            raise
        path = ctx.output_path(".txt")
        path.write_text("heard")
        ctx.add_output(OutputFile(path, "text/plain"))


def remote_registry() -> tuple[EngineRegistry, Remote]:
    registry, engine = EngineRegistry(), Remote()
    registry.add(engine)
    return registry, engine


async def test_a_coroutine_step_runs_on_the_loop_while_the_thread_waits(tmp_path: Path) -> None:
    registry, engine = remote_registry()
    ctx = context(tmp_path, loop=asyncio.get_running_loop())
    steps = Composition(ctx, registry, {"listen": 1, "burn": 1})
    [output] = await asyncio.to_thread(steps.run_model, "listen", "test/remote", {"seconds": 0.05})
    assert output.path.read_text() == "heard" and ctx.percent == 50
    assert engine.thread == threading.get_ident()  # the loop's thread, not the composition's


async def test_a_cancel_reaches_a_coroutine_step(tmp_path: Path) -> None:
    registry, engine = remote_registry()
    ctx = context(tmp_path, loop=asyncio.get_running_loop())
    steps = Composition(ctx, registry, {"listen": 1})
    waiting = asyncio.ensure_future(
        asyncio.to_thread(steps.run_model, "listen", "test/remote", {"seconds": 60})
    )
    await asyncio.to_thread(engine.started.wait, 10)
    ctx.cancel("cancelled")
    with pytest.raises(JobCancelled):
        await waiting
    assert engine.saw_cancel  # the step stopped itself, as a provider engine cancels its job


async def test_a_step_that_does_not_stop_is_cancelled_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compose, "STEP_STOP_GRACE_S", 0.1)
    registry, engine = remote_registry()
    ctx = context(tmp_path, loop=asyncio.get_running_loop())
    steps = Composition(ctx, registry, {"listen": 1})
    body = {"seconds": 60, "heed_cancel": False}
    waiting = asyncio.ensure_future(
        asyncio.to_thread(steps.run_model, "listen", "test/remote", body)
    )
    await asyncio.to_thread(engine.started.wait, 10)
    ctx.cancel("timeout")
    with pytest.raises(JobCancelled):
        await waiting
    assert engine.cancelled_on_loop


async def test_a_step_cancelled_on_the_loop_cancels_the_composition(tmp_path: Path) -> None:
    registry, engine = remote_registry()
    ctx = context(tmp_path, loop=asyncio.get_running_loop())
    steps = Composition(ctx, registry, {"listen": 1})
    waiting = asyncio.ensure_future(
        asyncio.to_thread(steps.run_model, "listen", "test/remote", {"seconds": 60})
    )
    await asyncio.to_thread(engine.started.wait, 10)
    assert engine.task is not None
    engine.task.cancel()  # the platform stopping
    with pytest.raises(JobCancelled):
        await waiting


def test_a_coroutine_step_needs_the_platforms_loop(tmp_path: Path) -> None:
    registry, _ = remote_registry()
    steps = Composition(context(tmp_path), registry, {"listen": 1})
    with pytest.raises(EngineError, match="event loop"):
        steps.run_model("listen", "test/remote", {})


def test_steps_read_shared_files_instead_of_fetching_them(tmp_path: Path) -> None:
    class Refusing:
        def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
            raise AssertionError(f"fetched {url}")

    shared = tmp_path / "video.mp4"
    shared.write_bytes(b"1234")
    fetcher = compose.SharedFetcher(Refusing(), {"https://e.com/v.mp4": shared})
    assert fetcher.fetch("https://e.com/v.mp4") == shared
    with pytest.raises(AssertionError):
        fetcher.fetch("https://e.com/v.mp4", max_bytes=2)  # over the step's cap: its own fetch


# What steps made: reported to the job's context (the runner settles steps priced by the second
# with it; the composition knows no credits) ------------------------------------------------


def test_each_step_that_gave_outputs_reports_the_seconds_it_made(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    ctx = context(tmp_path)
    steps = Composition(ctx, registry, {"voice": 1, "music": 1, "mux": 1})
    [voice] = steps.run_model("voice", "fake/speech", {"text": "hello there"})
    steps.run_model("music", "fake/music", {"prompt": "calm", "duration": 5})
    with steps.stage("mux"):
        pass  # the composition's own work is not a step of another model: nothing reported
    assert [(m.step, m.model_id) for m in ctx.steps_made] == [
        ("voice", "fake/speech"),
        ("music", "fake/music"),
    ]
    assert ctx.steps_made[0].seconds == voice.duration_s
    assert ctx.steps_made[1].seconds == 5


def test_a_failed_or_cancelled_step_reports_nothing(
    tmp_path: Path, registry: EngineRegistry
) -> None:
    ctx = context(tmp_path)
    steps = Composition(ctx, registry, {"voice": 1})
    with pytest.raises(StepFailed):
        steps.run_model("voice", "fake/speech", {"text": "[fail:invalid_input] no"})
    ctx.cancel("cancelled")
    with pytest.raises(JobCancelled):
        steps.run_model("voice", "fake/speech", {"text": "hello"})
    assert ctx.steps_made == []


async def test_a_step_without_a_length_reports_none(tmp_path: Path) -> None:
    registry, _ = remote_registry()
    ctx = context(tmp_path, loop=asyncio.get_running_loop())
    steps = Composition(ctx, registry, {"listen": 1})
    await asyncio.to_thread(steps.run_model, "listen", "test/remote", {"seconds": 0.01})
    [made] = ctx.steps_made
    assert (made.step, made.model_id, made.seconds) == ("listen", "test/remote", None)
