"""The local diffusion engine on a tiny randomly initialised Stable Diffusion pipeline saved on
disk (tests/engines/tiny_diffusion.py), loaded through the real loading path and denoised on
the CPU: sizes, progress per step, cancellation between steps, seeds, image to image, the
residency budget and single-flight loading, and registration of folders."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from mediastudio.engines.contract import EngineError, InvalidInput, JobCancelled
from mediastudio.engines.local import diffusion, registrations
from mediastudio.engines.local.engine import LocalEngine
from mediastudio.engines.local.inputs import LocalImageInput
from mediastudio.engines.local.registrations import RegistrationError
from mediastudio.engines.local.residency import Residency
from tests.conftest import make_settings
from tests.engines.recorder import Recorder
from tests.engines.tiny_diffusion import NATIVE_SIDE, build_tiny_pipeline, require_local_extra

PROMPT = "a red fox in the snow"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny pipeline folder for the module (building it takes a few seconds)."""
    require_local_extra()
    return build_tiny_pipeline(tmp_path_factory.mktemp("weights") / "tiny-sd")


def copy_of(tiny: Path, where: Path, name: str) -> Path:
    return Path(shutil.copytree(tiny, where / name))


def engine_with(tmp_path: Path, *folders: Path, **overrides: Any) -> LocalEngine:
    settings = make_settings(tmp_path / f"data-{uuid.uuid4().hex[:6]}", **overrides)
    for folder in folders:
        registrations.register(settings.data_dir, folder)
    return LocalEngine(settings)


def generate(
    engine: LocalEngine,
    tmp_path: Path,
    model_id: str = "local/tiny-sd",
    hook: Callable[[Recorder], None] = lambda ctx: None,
    **fields: Any,
) -> Recorder:
    [spec] = [spec for spec in engine.models() if spec.id == model_id]
    body = {"prompt": PROMPT, "steps": 2, "output_format": "png", **fields}
    ctx = Recorder(tmp_path, spec, LocalImageInput.model_validate(body), hook)
    engine.run(ctx)
    return ctx


def pixels(path: Path) -> np.ndarray[Any, np.dtype[np.uint8]]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def png_uri(image: Image.Image) -> str:
    import base64

    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# --- generating -------------------------------------------------------------------------------


def test_text_to_image_at_the_native_size_with_progress_per_step(
    tiny: Path, tmp_path: Path
) -> None:
    engine = engine_with(tmp_path, tiny)
    ctx = generate(engine, tmp_path, steps=3, seed=5)
    [output] = ctx.outputs
    assert (output.width, output.height) == (NATIVE_SIDE, NATIVE_SIDE)
    assert output.extra == {"seed": 5}
    image = pixels(output.path)
    assert image.shape == (NATIVE_SIDE, NATIVE_SIDE, 3) and image.std() > 0
    assert ctx.reports == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_size_outputs_and_steps_are_the_requests(tiny: Path, tmp_path: Path) -> None:
    engine = engine_with(tmp_path, tiny)
    ctx = generate(engine, tmp_path, width=96, height=70, num_outputs=2, seed=9, scheduler="euler")
    assert [(o.width, o.height) for o in ctx.outputs] == [
        (96, 64),
        (96, 64),
    ]  # 70 → 64: multiples of 8
    assert [o.extra["seed"] for o in ctx.outputs] == [9, 10]
    assert [pixels(o.path).shape for o in ctx.outputs] == [(64, 96, 3)] * 2
    assert ctx.reports == pytest.approx([0.25, 0.5, 0.75, 1.0])  # 2 steps x 2 images


def test_the_same_seed_gives_the_same_pixels_and_another_seed_does_not(
    tiny: Path, tmp_path: Path
) -> None:
    engine = engine_with(tmp_path, tiny)
    first, again, other = (
        pixels(generate(engine, tmp_path, seed=seed).outputs[0].path) for seed in (42, 42, 43)
    )
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_cancellation_takes_effect_between_denoising_steps(tiny: Path, tmp_path: Path) -> None:
    def cancel_after_two(ctx: Recorder) -> None:
        if len(ctx.reports) == 2:
            ctx.cancel("cancelled")

    engine = engine_with(tmp_path, tiny)
    [spec] = engine.models()
    stopped = Recorder(tmp_path, spec, LocalImageInput(prompt=PROMPT, steps=5), cancel_after_two)
    with pytest.raises(JobCancelled):
        engine.run(stopped)
    # Cancelled during step 2's report: step 3 never ran (it would have reported), nothing saved.
    assert stopped.reports == pytest.approx([0.2, 0.4]) and stopped.outputs == []


def test_image_to_image_keeps_the_source_shape_and_matches_its_plan(
    tiny: Path, tmp_path: Path
) -> None:
    source = Image.new("RGB", (150, 100), (200, 40, 40))
    engine = engine_with(tmp_path, tiny)
    ctx = generate(engine, tmp_path, image_url=png_uri(source), strength=0.5, steps=4, seed=1)
    [output] = ctx.outputs
    assert (output.width, output.height) == (64, 40)  # 64 on the long side, 42.7 → 40
    assert ctx.reports == pytest.approx([0.5, 1.0])  # strength 0.5 runs 2 of the 4 steps
    assert ctx.model.plan is not None
    [planned] = ctx.model.plan(ctx.input, ctx.fetcher)
    assert (planned.width, planned.height) == (64, 40)  # type: ignore[union-attr]


def test_a_negative_prompt_and_guidance_are_taken(tiny: Path, tmp_path: Path) -> None:
    engine = engine_with(tmp_path, tiny)
    plain = pixels(generate(engine, tmp_path, seed=3, guidance_scale=7.5).outputs[0].path)
    steered = generate(engine, tmp_path, seed=3, guidance_scale=7.5, negative_prompt="blur")
    assert not np.array_equal(plain, pixels(steered.outputs[0].path))


def test_an_out_of_memory_fails_the_job_clearly_and_the_engine_carries_on(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    engine = engine_with(tmp_path, tiny)
    generate(engine, tmp_path)  # resident now
    real = diffusion._task_pipeline

    def exhausted(pipeline: Any, from_image: bool) -> Any:
        task = real(pipeline, from_image)

        def forward(*args: Any, **kwargs: Any) -> Any:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

        monkeypatch.setattr(task.unet, "forward", forward)
        return task

    monkeypatch.setattr(diffusion, "_task_pipeline", exhausted)
    with pytest.raises(diffusion.OutOfMemory) as failure:
        generate(engine, tmp_path)
    assert failure.value.code == "out_of_memory"
    monkeypatch.undo()
    assert generate(engine, tmp_path).outputs  # the same engine goes on


# --- residency ----------------------------------------------------------------------------------


def test_a_budget_for_one_model_evicts_the_least_recently_used(tiny: Path, tmp_path: Path) -> None:
    first, second = copy_of(tiny, tmp_path, "tiny-a"), copy_of(tiny, tmp_path, "tiny-b")
    one_model = diffusion.module_bytes(
        diffusion.load_pipeline(tiny, diffusion.Device("cpu", "float32"))[0]
    )
    engine = engine_with(tmp_path, first, second, local_memory_bytes=int(one_model * 1.5))
    cache = engine.residency()

    generate(engine, tmp_path, "local/tiny-a")
    generate(engine, tmp_path, "local/tiny-a")  # warm: no second load
    assert (cache.resident(), cache.loads) == (["local/tiny-a"], 1)
    generate(engine, tmp_path, "local/tiny-b")
    assert (cache.resident(), cache.loads) == (["local/tiny-b"], 2)
    assert cache.used_bytes() == one_model <= cache.budget_bytes
    generate(engine, tmp_path, "local/tiny-a")
    assert (cache.resident(), cache.loads) == (["local/tiny-a"], 3)


def test_a_budget_for_two_keeps_both_warm(tiny: Path, tmp_path: Path) -> None:
    first, second = copy_of(tiny, tmp_path, "tiny-a"), copy_of(tiny, tmp_path, "tiny-b")
    engine = engine_with(tmp_path, first, second, local_memory_bytes=10 * 2**20)
    for model_id in ("local/tiny-a", "local/tiny-b", "local/tiny-a"):
        generate(engine, tmp_path, model_id)
    assert (engine.residency().resident(), engine.residency().loads) == (
        ["local/tiny-b", "local/tiny-a"],
        2,
    )


def test_ten_jobs_asking_at_once_load_the_model_once(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with(tmp_path, tiny)
    loads: list[Path] = []
    real = diffusion.load_pipeline

    def counted(folder: Path, device: diffusion.Device, *offload: Any) -> tuple[Any, int]:
        loads.append(folder)
        return real(folder, device, *offload)

    monkeypatch.setattr(diffusion, "load_pipeline", counted)
    start = threading.Barrier(10)
    results: list[Recorder | BaseException] = []

    def job(seed: int) -> None:
        start.wait()
        try:
            results.append(generate(engine, tmp_path, steps=1, seed=seed))
        except BaseException as exc:
            results.append(exc)

    threads = [threading.Thread(target=job, args=(seed,)) for seed in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len(results) == 10 and loads == [tiny.resolve()]
    assert engine.residency().loads == 1


def test_a_failed_load_reaches_every_waiter_and_the_next_job_loads_again() -> None:
    cache: Residency[str] = Residency(100)
    gate, attempts = threading.Event(), []

    def failing() -> tuple[str, int]:
        attempts.append("fail")
        gate.wait(5)
        raise OSError("disk gone")

    errors: list[BaseException] = []

    def job() -> None:
        try:
            with cache.use("m", failing, estimate=10):
                pass
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=job) for _ in range(3)]
    for thread in threads:
        thread.start()
    while cache.loads == 0:
        pass
    gate.set()
    for thread in threads:
        thread.join()
    assert len(errors) == 3 and attempts == ["fail"]
    with cache.use("m", lambda: ("weights", 10), estimate=10) as value:
        assert value == "weights"
    assert cache.loads == 2


def test_a_model_in_use_is_never_evicted() -> None:
    released: list[str] = []
    cache: Residency[str] = Residency(100, release=released.append)
    with cache.use("a", lambda: ("A", 80), estimate=80):
        with cache.use("b", lambda: ("B", 80), estimate=80):
            assert released == []  # a is in use: over budget for now
        assert released == ["B"]  # b, unused, goes as soon as it is let go
    assert cache.resident() == ["a"]


# --- availability, the catalog, registration -------------------------------------------------


def test_the_catalog_lists_a_registered_model_available(tiny: Path, tmp_path: Path) -> None:
    engine = engine_with(tmp_path, tiny)
    [spec] = engine.models()
    assert (spec.id, spec.type, spec.pool, spec.price_unit) == (
        "local/tiny-sd",
        "image",
        "cpu",
        "output",
    )
    assert engine.availability(spec).available


def test_without_the_extra_a_registered_model_says_how_to_install_it(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(diffusion, "missing_modules", lambda: ["torch", "diffusers"])
    engine = engine_with(tmp_path, tiny)
    [spec] = engine.models()
    availability = engine.availability(spec)
    assert not availability.available
    assert availability.reason == "torch, diffusers not installed: pip install 'mediastudio[local]'"


def test_a_cuda_device_without_cuda_is_unavailable_with_the_reason(
    tiny: Path, tmp_path: Path
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    engine = engine_with(tmp_path, tiny, local_device="cuda")
    [spec] = engine.models()
    assert spec.pool == "gpu"
    assert "sees no CUDA device" in (engine.availability(spec).reason or "")


def test_weights_that_disappear_make_the_model_unavailable(tiny: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny, tmp_path, "tiny-gone")
    engine = engine_with(tmp_path, folder)
    [spec] = engine.models()
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    reason = engine.availability(spec).reason or ""
    assert "holds no weights" in reason and "unet" in reason


def test_a_pipeline_this_diffusers_cannot_build_is_unavailable(tiny: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny, tmp_path, "tiny-future")
    index = folder / "model_index.json"
    index.write_text(index.read_text().replace("StableDiffusionPipeline", "Flux9Pipeline"))
    engine = engine_with(tmp_path, folder)
    [spec] = engine.models()
    assert "has no Flux9Pipeline" in (engine.availability(spec).reason or "")


def test_unreadable_weights_fail_the_job_with_the_reason(tiny: Path, tmp_path: Path) -> None:
    folder = copy_of(tiny, tmp_path, "tiny-broken")
    (folder / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    engine = engine_with(tmp_path, folder)
    with pytest.raises(EngineError, match="could not be loaded"):
        generate(engine, tmp_path, "local/tiny-broken")
    assert engine.residency().resident() == []


def test_registration_detects_the_pipeline_and_refuses_what_it_cannot_run(
    tiny: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    model = registrations.register(data, tiny)
    assert (model.id, model.kind, model.pipeline) == (
        "local/tiny-sd",
        "diffusers",
        "StableDiffusionPipeline",
    )
    assert registrations.register(data, tiny) == model  # again: a no-op
    with pytest.raises(RegistrationError, match="already registered"):
        registrations.register(data, copy_of(tiny, tmp_path / "elsewhere", "tiny-sd"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RegistrationError, match="no model_index"):
        registrations.register(data, empty)
    configs_only = copy_of(tiny, tmp_path, "configs-only")
    for weights in configs_only.rglob("*.safetensors"):
        weights.unlink()
    with pytest.raises(RegistrationError, match="holds no weights"):
        registrations.register(data, configs_only)
    assert [m.id for m in registrations.load(data)] == ["local/tiny-sd"]
    registrations.remove(data, "local/tiny-sd")
    assert registrations.load(data) == [] and (tiny / "model_index.json").exists()


def test_a_model_registered_after_start_runs_without_a_restart(tiny: Path, tmp_path: Path) -> None:
    engine = engine_with(tmp_path)
    assert engine.models() == []
    registrations.register(engine.settings.data_dir, tiny)
    spec = engine.resolve("local/tiny-sd", "image")
    assert spec is not None and engine.resolve("local/tiny-sd", "video") is None
    assert engine.resolve("local/nothing", None) is None


def test_a_flow_model_refuses_a_scheduler_it_cannot_sample_with(tiny: Path) -> None:
    pipeline, _ = diffusion.load_pipeline(tiny, diffusion.Device("cpu", "float32"))
    import diffusers

    pipeline.scheduler = diffusers.FlowMatchEulerDiscreteScheduler()  # type: ignore[no-untyped-call]
    with pytest.raises(InvalidInput, match="leave scheduler out"):
        diffusion._scheduler(pipeline, "ddim")


def test_the_server_starts_without_importing_torch(tmp_path: Path) -> None:
    """No registrations: discovering the engines and listing the catalog import no torch (the
    extra is optional; a server without local models pays nothing for it)."""
    script = (
        "import sys\n"
        "from mediastudio.engines.registry import EngineRegistry\n"
        "from mediastudio.settings import load_settings\n"
        f"registry = EngineRegistry.discover(load_settings(data_dir={str(tmp_path)!r}))\n"
        "assert not [m for m in registry.models() if m.id.startswith('local/')]\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
