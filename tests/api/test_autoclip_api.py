"""``POST /api/v1/videos/clip`` end to end with a live key and the built-in engine: the source is
served from loopback, the clips come back as decodable MP4s with their scores."""

from __future__ import annotations

import base64
from pathlib import Path

from mediastudio.engines.media.video import probe
from tests.conftest import auth, make_settings, open_api
from tests.engines import clip_sources as sources
from tests.fetch_servers import LoopbackServer, ok


async def test_clip_route_cuts_scored_clips_and_fails_corrupt_input_with_a_refund(
    tmp_path: Path,
) -> None:
    video = sources.shots_video(tmp_path / "shots.mp4").read_bytes()
    routes = {"/talk.mp4": ok(video, "video/mp4"), "/bad.mp4": ok(b"not a video" * 100)}
    with LoopbackServer(routes) as server:
        settings = make_settings(
            tmp_path / "data",
            disabled_engines=[],
            net_allow_hosts=f"127.0.0.1:{server.port}",
        )
        async with open_api(settings) as api:
            account = await api.account(credits=100)
            key = await api.key(account)
            body = {
                "video_url": server.url("/talk.mp4"),
                "max_clips": 2,
                "min_duration": 4,
                "max_duration": 8,
                "aspect_ratio": "1:1",
            }
            created = await api.client.post("/api/v1/videos/clip", json=body, headers=auth(key))
            assert created.status_code == 202, created.text
            job = created.json()
            assert job["type"] == "auto-clip" and job["model"] == "builtin/auto-clip"
            assert job["credits_reserved"] == 10

            bad = {**body, "video_url": server.url("/bad.mp4")}
            failed = await api.client.post("/api/v1/videos/clip", json=bad, headers=auth(key))
            inverted = {**body, "min_duration": 9}
            refused = await api.client.post("/api/v1/videos/clip", json=inverted, headers=auth(key))

            done = await api.wait(key, job["id"], timeout=90)
            assert done["status"] == "completed", done
            assert done["credits_charged"] == 10 and len(done["outputs"]) == 2
            first = done["outputs"][0]
            assert (first["start_s"], first["end_s"]) == (12.0, 18.0)
            assert first["score"] > done["outputs"][1]["score"] and first["reason"]
            clip = tmp_path / "clip.mp4"
            clip.write_bytes((await api.client.get(first["url"])).content)
            info = probe(clip)
            assert (info.width, info.height) == (180, 180) == (first["width"], first["height"])
            assert info.has_audio and abs(info.duration_s - 6.0) < 0.15

            failure = await api.wait(key, failed.json()["id"], timeout=60)
            assert failure["status"] == "failed"
            assert failure["error"]["code"] == "invalid_input"
            assert failure["credits_refunded"] == 10

            assert refused.status_code in (400, 422)
            assert refused.json()["error"]["code"] == "invalid_request"


async def test_a_data_uri_source_works_too(tmp_path: Path) -> None:
    video = sources.moving_box_video(tmp_path / "box.mp4", seconds=6.0).read_bytes()
    uri = "data:video/mp4;base64," + base64.b64encode(video).decode()
    async with open_api(make_settings(tmp_path / "data", disabled_engines=[])) as api:
        key = await api.key(await api.account(credits=20))
        body = {"video_url": uri, "max_clips": 1, "min_duration": 5, "max_duration": 6}
        created = await api.client.post("/api/v1/videos/clip", json=body, headers=auth(key))
        assert created.status_code == 202, created.text
        done = await api.wait(key, created.json()["id"], timeout=60)
        assert done["status"] == "completed", done
        (output,) = done["outputs"]
        assert output["focus"] == "motion" and output["width"] < output["height"]
