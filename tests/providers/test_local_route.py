"""An alias served first by a local model (``models pull <dir> --serves flux-schnell``), then by
its providers: a tiny diffusers pipeline on disk registered as serving ``flux-schnell``, the real
app with a live key, and the fake Replicate behind it. The alias runs locally without a call to
Replicate; a local failure that is not the input's fault (weights that fail to load, out of
memory) fails over to Replicate for one charge; invalid input does not; a pin skips the local
route."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mediastudio.engines.contract import InvalidInput
from mediastudio.engines.local import diffusion, registrations
from mediastudio.engines.providers.catalog import FLUX_SCHNELL
from mediastudio.engines.providers.local import local_routes
from mediastudio.engines.registry import EngineRegistry
from tests.conftest import Api, open_api
from tests.engines.tiny_diffusion import build_tiny_pipeline, require_local_extra
from tests.providers.conftest import replicate_settings
from tests.providers.fake_replicate import FakeReplicate
from tests.providers.test_replicate_jobs import balance, create, ledger_kinds, live_key

FLUX = {"model": "flux-schnell", "prompt": "a red bicycle", "output_format": "png", "seed": 4}
LOCAL_ROUTE = "local/tiny-flux"
REPLICATE_ROUTE = "replicate/black-forest-labs/flux-schnell"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny pipeline without attention blocks: the alias renders FLUX's megapixel sizes."""
    require_local_extra()
    return build_tiny_pipeline(tmp_path_factory.mktemp("weights") / "tiny-flux", attention=False)


async def serving(tmp_path: Path, fake: FakeReplicate, folder: Path) -> AsyncIterator[Api]:
    settings = replicate_settings(tmp_path / "data", fake)
    registrations.register(settings.data_dir, folder, serves="flux-schnell")
    async with open_api(settings) as opened:
        yield opened


@pytest.fixture
async def api(tiny: Path, tmp_path: Path, fake: FakeReplicate) -> AsyncIterator[Api]:
    async for opened in serving(tmp_path, fake, tiny):
        yield opened


async def run(api: Api, body: dict[str, Any], key: str | None = None) -> tuple[str, dict[str, Any]]:
    key = key or await live_key(api, credits=100)
    job = await create(api, key, "/api/v1/generate/image", body)
    return key, await api.wait(key, job["id"], timeout=120)


def outline(done: dict[str, Any]) -> list[tuple[str, str, str, str | None]]:
    return [(a["route"], a["provider"], a["outcome"], a["error_code"]) for a in done["attempts"]]


def test_a_registration_serving_the_alias_is_its_first_route(tiny: Path, tmp_path: Path) -> None:
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data")
    registry = EngineRegistry.discover(settings)
    assert local_routes(FLUX_SCHNELL, registry).routes == ()  # nothing registered: as before
    registrations.register(settings.data_dir, tiny, serves="flux-schnell")
    found = local_routes(FLUX_SCHNELL, registry)  # asked per job: no restart needed
    assert [route.name for route in found.routes] == [LOCAL_ROUTE]
    assert found.model(found.routes[0]).spec.id == LOCAL_ROUTE
    build = found.routes[0].build(
        FLUX_SCHNELL.spec.input_model(prompt="x", aspect_ratio="16:9"), {}
    )
    assert (build["width"], build["height"], build["steps"]) == (1344, 768, 4)
    # Registering the same folder again changes what it serves.
    assert registrations.register(settings.data_dir, tiny).serves is None
    assert local_routes(FLUX_SCHNELL, registry).routes == ()


def test_a_flux_schnell_folder_serves_the_alias_without_being_told(tmp_path: Path) -> None:
    folder = tmp_path / "FLUX.1-schnell"
    assert registrations.detect_serves(folder, "FluxPipeline") == "flux-schnell"
    assert registrations.detect_serves(tmp_path / "FLUX.1-dev", "FluxPipeline") is None
    assert registrations.detect_serves(folder, "StableDiffusionPipeline") is None


async def test_the_alias_runs_locally_without_calling_the_provider(
    api: Api, fake: FakeReplicate
) -> None:
    key, done = await run(api, FLUX)
    assert done["status"] == "completed", done
    assert done["provider"] == "local" and done["credits_charged"] == 5
    assert outline(done) == [(LOCAL_ROUTE, "local", "succeeded", None)]
    assert fake.requests("POST", "/v1/") == []
    [output] = done["outputs"]
    image = Image.open(io.BytesIO((await api.client.get(output["url"])).content))
    assert image.format == "PNG" and image.size == (1024, 1024) == (
        output["width"],
        output["height"],
    )
    assert await ledger_kinds(api, key, done["id"]) == {"reserve": [5], "capture": [-5]}


async def test_a_pin_or_the_model_id_choose_the_route(api: Api, fake: FakeReplicate) -> None:
    key, pinned = await run(api, {**FLUX, "provider": "replicate"})
    assert pinned["status"] == "completed" and outline(pinned) == [
        (REPLICATE_ROUTE, "replicate", "succeeded", None)
    ]
    _, alone = await run(api, {**FLUX, "fallback": False}, key)
    assert outline(alone) == [(LOCAL_ROUTE, "local", "succeeded", None)]
    assert len(fake.creates) == 1


async def test_weights_that_fail_to_load_fail_over_to_the_provider_for_one_charge(
    tiny: Path, tmp_path: Path, fake: FakeReplicate
) -> None:
    broken = Path(shutil.copytree(tiny, tmp_path / "weights" / "tiny-flux"))
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.write_bytes(b"not safetensors")  # present (so listed available), unreadable
    async for api in serving(tmp_path, fake, broken):
        key, done = await run(api, FLUX)
        assert done["status"] == "completed", done
        assert done["provider"] == "replicate" and done["credits_charged"] == 5
        [local, replicate] = outline(done)
        assert local[:3] == (LOCAL_ROUTE, "local", "failed_over")
        assert replicate == (REPLICATE_ROUTE, "replicate", "succeeded", None)
        assert LOCAL_ROUTE in done["attempts"][0]["error"]
        assert len(fake.creates) == 1
        assert await ledger_kinds(api, key, done["id"]) == {"reserve": [5], "capture": [-5]}
        assert await balance(api, key) == (95, 0)


async def test_out_of_memory_fails_over_and_invalid_input_does_not(
    api: Api, fake: FakeReplicate, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def exhausted(pipeline: Any, request: Any, on_step: Any) -> Any:
        with diffusion._out_of_memory_fails_the_job():
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(diffusion, "generate", exhausted)
    key, done = await run(api, FLUX)
    assert done["status"] == "completed" and done["provider"] == "replicate", done
    assert outline(done) == [
        (LOCAL_ROUTE, "local", "failed_over", "out_of_memory"),
        (REPLICATE_ROUTE, "replicate", "succeeded", None),
    ]

    def refused(pipeline: Any, request: Any, on_step: Any) -> Any:
        raise InvalidInput("This model cannot draw that.")

    monkeypatch.setattr(diffusion, "generate", refused)
    _, failed = await run(api, FLUX, key)
    assert failed["status"] == "failed" and failed["error"]["code"] == "invalid_input", failed
    assert outline(failed) == [(LOCAL_ROUTE, "local", "failed", "invalid_input")]
    assert len(fake.creates) == 1  # only the out-of-memory job reached Replicate
    assert await balance(api, key) == (95, 0)  # the refused job was refunded
