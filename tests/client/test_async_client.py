"""The asyncio twin against the same kind of server (fewer cases: the core is shared)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mediastudio import AsyncClient
from mediastudio.client import AsyncGeneration, AuthenticationError, InvalidRequestError
from tests.client.conftest import Served
from tests.client.proxy import lossy_proxy

pytestmark = pytest.mark.e2e


async def test_generate_wait_download_and_list(served: Served, tmp_path: Path) -> None:
    async with AsyncClient(api_key=served.key, base_url=served.url) as client:
        generation = await client.generate.image(prompt="a kite [slow:1]", output_format="png")
        seen: list[int] = []

        async def on_progress(g: AsyncGeneration) -> None:
            seen.append(g.progress)

        await generation.wait(timeout=60, on_progress=on_progress)
        assert generation.status == "completed" and seen and seen[-1] == 100
        path = await generation.outputs[0].download(tmp_path / "kite.png")
        with Image.open(path) as image:
            assert image.size == (generation.outputs[0].width, generation.outputs[0].height)

        ran = await client.run(generation.model, input={"prompt": "a second kite"}, timeout=60)
        assert ran.status == "completed"
        listed = [g.id async for g in client.generations.list(limit=1)]
        assert {generation.id, ran.id} <= set(listed) and len(listed) == len(set(listed))


async def test_errors_and_a_retried_create(served: Served) -> None:
    async with AsyncClient(api_key="ms_test_" + "y" * 40, base_url=served.url) as bad:
        with pytest.raises(AuthenticationError) as raised:
            await bad.generations.get("gen_00000000000000000000000000")
        assert raised.value.request_id
    async with AsyncClient(api_key=served.key, base_url=served.url) as client:
        with pytest.raises(InvalidRequestError) as invalid:
            await client.generate.image(prompt="")
        assert "prompt" in invalid.value.fields
        with lossy_proxy(served.url, "drop") as proxy:
            async with AsyncClient(api_key=served.key, base_url=proxy.url, backoff_s=0.01) as lossy:
                generation = await lossy.generate.image(prompt="once", external_id="async-drop")
        assert proxy.creates == 2
        jobs = [g.id async for g in client.generations.list(external_id="async-drop")]
        assert jobs == [generation.id]


async def test_music_a_tool_retry_and_the_account(served: Served) -> None:
    async with AsyncClient(api_key=served.key, base_url=served.url) as client:
        music = await client.generate.music(prompt="calm piano", duration=5)
        assert (await music.wait(timeout=60)).status == "completed" and music.type == "music"
        tool = await client.generate.tool(
            "/api/v1/images/transform", image_url=music.outputs[0].url, transformation="sepia"
        )
        assert tool.type == "image-transform"  # created; an audio URL is the engine's to refuse
        await tool.wait(timeout=60)

        failed = await client.generate.image(prompt="x [fail:provider_error]")
        await failed.wait(timeout=60)
        retried = await client.generations.retry(failed.id)
        assert retried.id == failed.id
        assert (await retried.wait(timeout=60)).status == "failed"
        with pytest.raises(InvalidRequestError):
            await music.retry()  # a completed job is not retried (409)

        assert (await client.account())["sandbox"] is True
