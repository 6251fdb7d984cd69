"""Compositions run other models as steps: progress spans, cancellation, failures, outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from mediastudio.engines.compose import Composition, StepFailed
from mediastudio.engines.contract import JobCancelled, ModelSpec
from mediastudio.engines.registry import EngineRegistry
from mediastudio.kit.fetch import NetPolicy
from mediastudio.runtime.context import JobContext
from mediastudio.runtime.inputs import SafeFetcher
from tests.conftest import make_settings


class Nothing(BaseModel):
    pass


def context(tmp_path: Path, *, sandbox: bool = False) -> JobContext:
    spec = ModelSpec("test/composition", "Composition", "commercial", Nothing, 1)
    return JobContext(
        generation_id="gen_test",
        model=spec,
        input=Nothing(),
        sandbox=sandbox,
        workdir=tmp_path,
        fetcher=SafeFetcher(tmp_path, NetPolicy()),
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
