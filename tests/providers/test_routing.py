"""The routing rules on their own: which routes a request may take, what fails over, and what a
restart skips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mediastudio.engines.contract import (
    ATTEMPTS_KEY,
    InvalidInput,
    InvalidPrompt,
    ProviderError,
)
from mediastudio.engines.providers.catalog import FLUX_SCHNELL, HAILUO_FAST
from mediastudio.engines.providers.engine import KEY_SETTINGS
from mediastudio.engines.providers.inputs import FluxSchnellInput, HailuoInput
from mediastudio.engines.providers.routes import Route
from mediastudio.engines.providers.routing import plan, run_routes
from mediastudio.runtime.context import JobContext

BOTH = ("replicate", "fal")
FLUX_ROUTES = ["replicate/black-forest-labs/flux-schnell", "fal/fal-ai/flux/schnell"]


def names(routes: list[Route]) -> list[str]:
    return [route.name for route in routes]


def flux(**fields: Any) -> FluxSchnellInput:
    return FluxSchnellInput(prompt="x", **fields)


def test_the_plan_follows_the_pin_the_keys_and_the_fallback_switch() -> None:
    assert names(plan(FLUX_SCHNELL, flux(), BOTH, KEY_SETTINGS)) == FLUX_ROUTES
    assert names(plan(FLUX_SCHNELL, flux(provider="fal"), BOTH, KEY_SETTINGS)) == FLUX_ROUTES[1:]
    assert names(plan(FLUX_SCHNELL, flux(), ("fal",), KEY_SETTINGS)) == FLUX_ROUTES[1:]
    assert names(plan(FLUX_SCHNELL, flux(fallback=False), BOTH, KEY_SETTINGS)) == FLUX_ROUTES[:1]
    with pytest.raises(ProviderError, match="MEDIASTUDIO_PROVIDERS__REPLICATE__API_KEY"):
        plan(FLUX_SCHNELL, flux(provider="replicate"), ("fal",), KEY_SETTINGS)


def test_conditional_routes_pick_by_the_input() -> None:
    image = HailuoInput(prompt="waves", first_frame_image="https://x/a.png")
    assert names(plan(HAILUO_FAST, image, BOTH, KEY_SETTINGS)) == [
        "replicate/minimax/hailuo-2.3-fast",
        "fal/fal-ai/minimax/hailuo-2.3-fast/standard/image-to-video",
    ]
    text = HailuoInput(prompt="waves")
    assert names(plan(HAILUO_FAST, text, BOTH, KEY_SETTINGS))[1] == (
        "fal/fal-ai/minimax/hailuo-2.3/standard/text-to-video"
    )
    # fal's Hailuo needs a prompt with the image: without one only Replicate's route is left.
    silent = HailuoInput(first_frame_image="https://x/a.png")
    assert names(plan(HAILUO_FAST, silent, BOTH, KEY_SETTINGS)) == [
        "replicate/minimax/hailuo-2.3-fast"
    ]
    pinned = HailuoInput(first_frame_image="https://x/a.png", provider="fal")
    with pytest.raises(InvalidInput, match=r"fal does not serve minimax/hailuo-2\.3-fast"):
        plan(HAILUO_FAST, pinned, BOTH, KEY_SETTINGS)


def test_1080p_fails_over_to_fal_pro_never_to_a_768p_endpoint() -> None:
    image = HailuoInput(prompt="waves", first_frame_image="https://x/a.png", resolution="1080p")
    assert names(plan(HAILUO_FAST, image, BOTH, KEY_SETTINGS)) == [
        "replicate/minimax/hailuo-2.3-fast",
        "fal/fal-ai/minimax/hailuo-2.3-fast/pro/image-to-video",
    ]
    text = HailuoInput(prompt="waves", resolution="1080p")
    assert names(plan(HAILUO_FAST, text, BOTH, KEY_SETTINGS)) == [
        "replicate/minimax/hailuo-2.3",
        "fal/fal-ai/minimax/hailuo-2.3/pro/text-to-video",
    ]
    # fal's pro endpoints make 6 s clips and take no duration.
    pro = HAILUO_FAST.routes[-1]
    assert pro.build(text, {}) == {"prompt": "waves"}


def context(tmp_path: Path, checkpoint: dict[str, Any] | None = None) -> JobContext:
    return JobContext(
        generation_id="gen_1",
        model=FLUX_SCHNELL.spec,
        input=flux(),
        sandbox=False,
        workdir=tmp_path,
        fetcher=None,  # type: ignore[arg-type]
        checkpoint=checkpoint,
    )


class Attempts:
    """Routes tried, each failing with the next scripted error (or succeeding)."""

    def __init__(self, *errors: Exception | None) -> None:
        self.errors = list(errors)
        self.tried: list[str] = []

    async def __call__(self, route: Route) -> None:
        self.tried.append(route.name)
        error = self.errors.pop(0)
        if error is not None:
            raise error


async def test_provider_errors_fail_over_and_refusals_do_not(tmp_path: Path) -> None:
    routes = list(FLUX_SCHNELL.routes)
    served = Attempts(ProviderError("down"), None)
    ctx = context(tmp_path)
    await run_routes(ctx, routes, served)
    assert served.tried == FLUX_ROUTES
    assert [a["outcome"] for a in ctx.recall(ATTEMPTS_KEY)] == ["failed_over", "succeeded"]
    refused = Attempts(InvalidPrompt("no"))
    with pytest.raises(InvalidPrompt):
        await run_routes(context(tmp_path), routes, refused)
    assert refused.tried == FLUX_ROUTES[:1]


async def test_a_restart_skips_the_routes_that_already_failed(tmp_path: Path) -> None:
    failed = {"route": FLUX_ROUTES[0], "provider": "replicate", "outcome": "failed_over"}
    ctx = context(tmp_path, {ATTEMPTS_KEY: [failed]})
    resumed = Attempts(None)
    await run_routes(ctx, list(FLUX_SCHNELL.routes), resumed)
    assert resumed.tried == FLUX_ROUTES[1:]
    assert [a["route"] for a in ctx.recall(ATTEMPTS_KEY)] == FLUX_ROUTES
