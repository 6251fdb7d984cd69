"""Where a local pipeline sits on a GPU (MEDIASTUDIO_LOCAL_OFFLOAD): the decision from synthetic
sizes, the estimate from a tiny pipeline's files against its loaded modules, model offload
really running on the CPU (accelerate's hooks with the CPU as the execution device) with the
same pixels as the pipeline wholly on its device, the engine's choice on a GPU (a fake CUDA
``Device``: this machine has none), and one retry after an out-of-memory."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mediastudio.engines.local import diffusion, registrations
from mediastudio.engines.local.engine import LocalEngine
from mediastudio.engines.local.inputs import LocalImageInput
from mediastudio.engines.local.placement import GIB, Weights, decide, estimate, headroom
from tests.conftest import make_settings
from tests.engines.recorder import Recorder
from tests.engines.tiny_diffusion import build_tiny_pipeline, require_local_extra

PROMPT = "a red fox in the snow"
GB = 10**9
# FLUX.1-schnell in bf16, roughly: the transformer, T5-XXL, CLIP-L and the VAE.
FLUX = Weights({"transformer": 23_800_000_000, "text_encoder_2": 9_500_000_000, "vae": 160 * 10**6})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_local_extra()
    return build_tiny_pipeline(tmp_path_factory.mktemp("weights") / "tiny-sd")


def engine_with(tmp_path: Path, *folders: Path, **overrides: Any) -> LocalEngine:
    settings = make_settings(tmp_path / f"data-{uuid.uuid4().hex[:6]}", **overrides)
    for folder in folders:
        registrations.register(settings.data_dir, folder)
    return LocalEngine(settings)


def generate(engine: LocalEngine, tmp_path: Path, model_id: str = "local/tiny-sd") -> Recorder:
    [spec] = [spec for spec in engine.models() if spec.id == model_id]
    body = {"prompt": PROMPT, "steps": 2, "output_format": "png", "seed": 3}
    ctx = Recorder(tmp_path, spec, LocalImageInput.model_validate(body), lambda ctx: None)
    engine.run(ctx)
    return ctx


# --- the decision -------------------------------------------------------------------------------


def test_weights_that_fit_with_headroom_stay_wholly_on_the_gpu() -> None:
    placed = decide(FLUX, 80 * GB, on_gpu=True)
    assert (placed.mode, placed.device_bytes) == ("none", FLUX.total)
    assert placed.summary() == "runs wholly on the GPU: 33.5 GB of weights, 80.0 GB budget"


def test_weights_over_the_budget_run_with_model_offload_at_the_largest_component() -> None:
    placed = decide(FLUX, 30 * GB, on_gpu=True)
    assert (placed.mode, placed.device_bytes) == ("model", 23_800_000_000)
    assert placed.summary() == "runs with model offload: 33.5 GB of weights, 30.0 GB budget"
    # Weights that fit only without the room for activations are offloaded too.
    assert decide(FLUX, FLUX.total + headroom(FLUX.total) - 1, on_gpu=True).mode == "model"
    assert decide(FLUX, FLUX.total + headroom(FLUX.total), on_gpu=True).mode == "none"


def test_a_largest_component_over_the_budget_runs_with_sequential_offload() -> None:
    placed = decide(FLUX, 16 * GB, on_gpu=True)
    assert (placed.mode, placed.device_bytes) == ("sequential", 0)
    assert "sequential offload" in placed.summary()


def test_the_cpu_has_nothing_to_offload_and_a_set_mode_is_taken_on_a_gpu() -> None:
    for setting in ("auto", "model", "sequential"):
        placed = decide(FLUX, 8 * GB, on_gpu=False, setting=setting)  # type: ignore[arg-type]
        assert (placed.mode, placed.summary()) == ("none", "runs on the CPU: 33.5 GB of weights")
    assert decide(FLUX, 80 * GB, on_gpu=True, setting="model").mode == "model"
    assert decide(FLUX, 8 * GB, on_gpu=True, setting="none").mode == "none"


def test_the_headroom_is_a_gib_or_a_fifth_of_the_weights() -> None:
    assert (headroom(2 * GIB), headroom(20 * GIB)) == (GIB, 4 * GIB)


# --- the estimate -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_the_estimate_from_the_files_matches_the_loaded_modules(tiny: Path, dtype: str) -> None:
    weights = estimate(tiny, dtype)
    loaded, _ = diffusion.load_pipeline(tiny, diffusion.Device("cpu", dtype))
    measured = diffusion.component_bytes(loaded)
    assert set(weights.components) == set(measured) == {"unet", "vae", "text_encoder"}
    for name, size in measured.items():
        # Buffers a module makes itself (CLIP's position ids) are in no file: under 1 %.
        assert weights.components[name] == pytest.approx(size, rel=0.01)
    assert weights.total == pytest.approx(diffusion.module_bytes(loaded), rel=0.01)
    assert weights.largest == weights.components["text_encoder"]


def test_a_variant_beside_the_default_weights_is_not_counted(tiny: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny, tmp_path / "variants"))
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    shutil.copy(unet, unet.with_name("diffusion_pytorch_model.fp16.safetensors"))
    shutil.copy(unet, unet.with_suffix(".bin"))  # an older save beside it: safetensors wins
    assert estimate(folder, "float32") == estimate(tiny, "float32")


def test_files_diffusers_does_not_load_are_not_counted(tiny: Path, tmp_path: Path) -> None:
    """A hub snapshot may hold a single-file checkpoint at its root and spare folders."""
    folder = Path(shutil.copytree(tiny, tmp_path / "snapshot"))
    unet = folder / "unet" / "diffusion_pytorch_model.safetensors"
    shutil.copy(unet, folder / "checkpoint.safetensors")
    shutil.copytree(folder / "vae", folder / "vae_1_0")
    assert estimate(folder, "float32") == estimate(tiny, "float32")


def test_a_pickled_checkpoint_counts_at_its_file_size(tmp_path: Path) -> None:
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\0" * 1234)
    assert estimate(tmp_path, "float16").components == {"unet": 1234}


# --- offload running ----------------------------------------------------------------------------


def test_model_offload_gives_the_same_pixels_as_the_pipeline_on_its_device(tiny: Path) -> None:
    """accelerate's hooks with the CPU as the execution device: the same code path as on a GPU
    (components moved in and out one at a time), the same seed, the same image."""
    device = diffusion.Device("cpu", "float32")
    request = diffusion.Request(PROMPT, None, 64, 64, 2, None, None, 3, None, 0.8)
    whole, whole_bytes = diffusion.load_pipeline(tiny, device)
    offloaded, offloaded_bytes = diffusion.load_pipeline(tiny, device, "model")
    assert getattr(offloaded, "_offload_device", None) is not None  # the hooks are in
    assert offloaded_bytes == max(diffusion.component_bytes(whole).values()) < whole_bytes
    first = np.asarray(diffusion.generate(whole, request, lambda done, total: None))
    second = np.asarray(diffusion.generate(offloaded, request, lambda done, total: None))
    assert np.array_equal(first, second)


def fake_gpu(engine: LocalEngine, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The engine on a "cuda" device this machine does not have; the offload calls are spied:
    model offload runs for real with the CPU as its execution device, sequential offload (which
    accelerate cannot run with the CPU as the execution device) is only recorded."""
    from diffusers import DiffusionPipeline

    calls: list[tuple[str, str]] = []
    real_model_offload = DiffusionPipeline.enable_model_cpu_offload

    def model_offload(self: Any, gpu_id: Any = None, device: Any = None) -> None:
        calls.append(("model", str(device)))
        real_model_offload(self, device="cpu")

    def sequential_offload(self: Any, gpu_id: Any = None, device: Any = None) -> None:
        calls.append(("sequential", str(device)))

    monkeypatch.setattr(DiffusionPipeline, "enable_model_cpu_offload", model_offload)
    monkeypatch.setattr(DiffusionPipeline, "enable_sequential_cpu_offload", sequential_offload)
    monkeypatch.setattr(diffusion, "device_problem", lambda device: None)
    engine._device = diffusion.Device("cuda", "float32")
    return calls


def test_on_a_gpu_too_small_the_engine_offloads_and_counts_the_largest_component(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = estimate(tiny, "float32")
    budget = weights.largest + headroom(weights.largest) + 1  # the largest fits, all do not
    engine = engine_with(tmp_path, tiny, local_memory_bytes=budget)
    calls = fake_gpu(engine, monkeypatch)
    [spec] = engine.models()
    assert spec.pool == "gpu"
    assert "It runs with model offload: 0.4 MB of weights, 1.1 GB budget." in spec.description
    assert generate(engine, tmp_path).outputs
    assert calls == [("model", "cuda")]
    # The residency holds what sits on the device: the largest component, measured.
    assert engine.residency().used_bytes() == pytest.approx(weights.largest, rel=0.01)


def test_on_a_gpu_smaller_than_any_component_the_engine_offloads_layer_by_layer(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with(tmp_path, tiny, local_memory_bytes=GIB)
    calls = fake_gpu(engine, monkeypatch)
    [spec] = engine.models()
    assert "It runs with sequential offload (slow)" in spec.description
    assert generate(engine, tmp_path).outputs
    assert calls == [("sequential", "cuda")]
    assert engine.residency().used_bytes() == 0


def test_a_set_offload_mode_is_taken_whatever_the_budget(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with(tmp_path, tiny, local_memory_bytes=100 * GIB, local_offload="sequential")
    calls = fake_gpu(engine, monkeypatch)
    generate(engine, tmp_path)
    assert calls == [("sequential", "cuda")]


def test_on_the_cpu_the_description_says_so(tiny: Path, tmp_path: Path) -> None:
    [spec] = engine_with(tmp_path, tiny, local_offload="model").models()
    assert spec.description.endswith("It runs on the CPU: 0.4 MB of weights.")


# --- out of memory ------------------------------------------------------------------------------


def out_of_memory_for(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """The next ``times`` denoising steps raise CUDA's out-of-memory (the UNet is shared by
    every view of the resident pipeline, so it is patched once); each attempt is counted."""
    import torch

    attempts: list[int] = []
    left = [times]
    real = diffusion._task_pipeline

    def exhausted(pipeline: Any, from_image: bool) -> Any:
        task = real(pipeline, from_image)
        attempts.append(1)
        unet = task.unet
        if not getattr(unet.forward, "spied", False):
            original = unet.forward

            def forward(*args: Any, **kwargs: Any) -> Any:
                if left[0] > 0:
                    left[0] -= 1
                    raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
                return original(*args, **kwargs)

            forward.spied = True  # type: ignore[attr-defined]
            monkeypatch.setattr(unet, "forward", forward)
        return task

    monkeypatch.setattr(diffusion, "_task_pipeline", exhausted)
    return attempts


def two_resident(tiny: Path, tmp_path: Path) -> LocalEngine:
    first = Path(shutil.copytree(tiny, tmp_path / "tiny-a"))
    second = Path(shutil.copytree(tiny, tmp_path / "tiny-b"))
    engine = engine_with(tmp_path, first, second, local_memory_bytes=100 * 2**20)
    generate(engine, tmp_path, "local/tiny-b")
    generate(engine, tmp_path, "local/tiny-a")
    assert engine.residency().resident() == ["local/tiny-b", "local/tiny-a"]
    return engine


def test_an_out_of_memory_evicts_the_other_models_and_retries_once(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = two_resident(tiny, tmp_path)
    expected = generate(engine, tmp_path, "local/tiny-a").outputs[0].path.read_bytes()
    calls = out_of_memory_for(monkeypatch, times=1)
    done = generate(engine, tmp_path, "local/tiny-a")
    assert len(calls) == 2
    assert engine.residency().resident() == ["local/tiny-a"]  # tiny-b made room
    assert done.outputs[0].path.read_bytes() == expected  # the retry's image, the same seed's


def test_a_second_out_of_memory_fails_the_job(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = two_resident(tiny, tmp_path)
    calls = out_of_memory_for(monkeypatch, times=2)
    with pytest.raises(diffusion.OutOfMemory) as failure:
        generate(engine, tmp_path, "local/tiny-a")
    assert (failure.value.code, len(calls)) == ("out_of_memory", 2)
    monkeypatch.undo()
    assert generate(engine, tmp_path, "local/tiny-a").outputs  # the engine carries on


def test_with_nothing_else_resident_an_out_of_memory_fails_at_once(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with(tmp_path, tiny)
    generate(engine, tmp_path)
    calls = out_of_memory_for(monkeypatch, times=1)
    with pytest.raises(diffusion.OutOfMemory):
        generate(engine, tmp_path)
    assert len(calls) == 1


def test_an_offloaded_pipeline_is_not_retried(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offloaded, the pipeline already holds as little as it can: another try would fail."""
    first = Path(shutil.copytree(tiny, tmp_path / "tiny-a"))
    second = Path(shutil.copytree(tiny, tmp_path / "tiny-b"))
    weights = estimate(tiny, "float32")
    budget = weights.largest + headroom(weights.largest) + 1
    engine = engine_with(tmp_path, first, second, local_memory_bytes=budget)
    fake_gpu(engine, monkeypatch)
    generate(engine, tmp_path, "local/tiny-b")
    generate(engine, tmp_path, "local/tiny-a")
    calls = out_of_memory_for(monkeypatch, times=1)
    with pytest.raises(diffusion.OutOfMemory):
        generate(engine, tmp_path, "local/tiny-a")
    assert len(calls) == 1


def test_models_list_local_says_how_each_model_runs(tiny: Path, tmp_path: Path) -> None:
    import json

    from tests.cli.test_cli import invoke

    assert invoke(tmp_path, "models", "pull", str(tiny))[0] == 0
    code, out = invoke(tmp_path, "models", "list", "--local", "--json")
    assert code == 0, out
    [row] = json.loads(out)
    assert (row["id"], row["runs"]) == ("local/tiny-sd", "runs on the CPU: 0.4 MB of weights")
