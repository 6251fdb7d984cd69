"""A fresh install with a live key makes real media: the built-in engines behind a real server
process, with no weights, no provider keys and no network."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.e2e.server import LIVE_KEY, ServerProcess, auth, client, wait_for

pytestmark = pytest.mark.e2e

PLAIN = {
    "MEDIASTUDIO_ENGINE_MODULES": None,
    "MEDIASTUDIO_DISABLED_ENGINES": None,
    "MEDIASTUDIO_BOOTSTRAP": None,
}


def product_photo() -> bytes:
    """A dark disc on a plain light backdrop, as PNG."""
    image = Image.new("RGB", (320, 240), (235, 235, 232))
    ImageDraw.Draw(image).ellipse((110, 70, 210, 170), fill=(40, 60, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_live_key_speaks_and_cuts_out_an_uploaded_photo(server: ServerProcess) -> None:
    server.start(PLAIN)
    live = LIVE_KEY.findall(server.start_log())[0]
    async with client(server) as http:
        models = (await http.get("/api/v1/models?type=speech", headers=auth(live))).json()
        espeak = next(m for m in models["data"] if m["id"] == "builtin/espeak")
        assert espeak["available"] is True

        body = {"text": "Hello from MediaStudio. This is real speech.", "output_format": "wav"}
        created = await http.post("/api/v1/generate/speech", json=body, headers=auth(live))
        assert created.status_code == 202, created.text
        done = await wait_for(http, live, created.json()["id"])
        assert done["status"] == "completed", done
        assert done["model"] == "builtin/espeak" and done["credits_charged"] >= 1
        audio = (await http.get(done["output_url"])).content
        with av.open(io.BytesIO(audio)) as container:
            samples = np.concatenate(
                [frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)]
            ).astype(np.float64)
            rate = container.streams.audio[0].rate
        assert 1.5 < len(samples) / rate < 8.0
        assert np.sqrt(np.mean((samples / 32768.0) ** 2)) > 0.02  # not silence

        uploaded = await http.post(
            "/api/v1/files", files={"file": ("p.png", product_photo())}, headers=auth(live)
        )
        assert uploaded.status_code == 201, uploaded.text
        cut = await http.post(
            "/api/v1/images/remove-background",
            json={"image_url": uploaded.json()["id"]},
            headers=auth(live),
        )
        assert cut.status_code == 202, cut.text
        done = await wait_for(http, live, cut.json()["id"])
        assert done["status"] == "completed", done
        result = Image.open(io.BytesIO((await http.get(done["output_url"])).content))
        alpha = np.asarray(result.convert("RGBA"))[:, :, 3]
        assert alpha[120, 160] > 200 and alpha[10, 10] < 30  # the disc kept, the backdrop gone
