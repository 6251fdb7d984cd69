"""Custom voices end to end through the ASGI app against the fake ElevenLabs: cloned from an
uploaded WAV and from a URL (fetched by the SSRF-safe fetcher from a loopback server), spoken
with (the fake is asked for the provider's voice id; the audio decodes), deleted at the provider
with its samples; another account, or the other mode, never sees it; consent is required;
cloning without an ElevenLabs key is unavailable with its reason; failures are refunded;
sandbox keys get placeholder voices that sandbox speech accepts."""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from mediastudio.credits import service as credits
from mediastudio.kit.clock import utcnow
from mediastudio.voices import repository as voices_repository
from mediastudio.voices.cloning import CONSENT_STATEMENT
from mediastudio.voices.models import CustomVoice
from tests.conftest import Api, auth, make_settings, open_api
from tests.fetch_servers import LoopbackServer, ok
from tests.providers.conftest import elevenlabs_settings
from tests.providers.fake_elevenlabs import CLONE, VOICE_DELETE, FakeElevenLabs, error
from tests.providers.test_fake_elevenlabs import speech_wav
from tests.providers.test_replicate_jobs import balance, ledger_kinds, live_key

VOICES, SPEECH, FILES = "/api/v1/voices", "/api/v1/generate/speech", "/api/v1/files"
FLASH = "elevenlabs/eleven_flash_v2_5"
UPLOADED, FETCHED = speech_wav(1.0), speech_wav(1.5, rate=22050)
PRICE = 200


@pytest.fixture
def samples() -> Iterator[LoopbackServer]:
    """Where URL samples come from: a loopback server the fetcher is allowed to reach."""
    with LoopbackServer(
        {"/narrator.wav": ok(FETCHED, "audio/wav"), "/notes.txt": ok(b"hello", "text/plain")}
    ) as server:
        yield server


def _settings(tmp_path: Path, fake: FakeElevenLabs, server: LoopbackServer) -> Any:
    return elevenlabs_settings(tmp_path / "data", fake, net_allow_hosts=f"127.0.0.1:{server.port}")


async def _upload(api: Api, key: str, data: bytes, name: str, kind: str) -> str:
    response = await api.client.post(FILES, headers=auth(key), files={"file": (name, data, kind)})
    assert response.status_code == 201, response.text
    file_id: str = response.json()["id"]
    return file_id


async def _clone(api: Api, key: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    response = await api.client.post(VOICES, json=body, headers=auth(key))
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _speak(api: Api, key: str, voice: str, model: str = FLASH) -> dict[str, Any]:
    body = {"model": model, "text": "Hello from my own voice.", "voice": voice}
    response = await api.client.post(SPEECH, json=body, headers=auth(key))
    answer: dict[str, Any] = response.json()
    answer["_status"] = response.status_code
    return answer


async def _seconds(api: Api, url: str) -> float:
    response = await api.client.get(url)
    assert response.status_code == 200
    with av.open(io.BytesIO(response.content)) as opened:
        stream = opened.streams.audio[0]
        return sum(f.samples for f in opened.decode(stream)) / stream.rate


async def test_a_voice_cloned_from_an_upload_and_a_url_speaks_and_is_deleted(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        key = await live_key(api, credits=1000)
        listed = (await api.client.get(VOICES, headers=auth(key))).json()
        assert listed["cloning"] == {
            "available": True,
            "provider": "elevenlabs",
            "credits": PRICE,
            "unavailable_reason": None,
        }
        upload = await _upload(api, key, UPLOADED, "me.wav", "audio/wav")
        response = await api.client.post(
            VOICES,
            headers=auth(key),
            json={
                "name": "Narrator",
                "samples": [upload, samples.url("/narrator.wav")],
                "consent": True,
                "language": "en",
                "description": "Calm and warm",
            },
        )
        assert response.status_code == 201, response.text
        voice = response.json()
        assert response.headers["location"] == f"/api/v1/voices/{voice['id']}"
        assert voice["id"].startswith("voice_") and voice["status"] == "ready"
        assert voice["provider"] == "elevenlabs" and voice["credits_charged"] == PRICE
        assert voice["sandbox"] is False and voice["requires_verification"] is False
        assert voice["consent"]["statement"] == CONSENT_STATEMENT
        assert voice["consent"]["api_key_id"].startswith("key_")
        first, second = voice["samples"]
        assert (first["file_id"], first["source"]) == (upload, "upload")
        assert first["sha256"] == hashlib.sha256(UPLOADED).hexdigest()
        assert second["source"] == "url" and second["content_type"] == "audio/wav"
        assert second["sha256"] == hashlib.sha256(FETCHED).hexdigest()
        assert [s.path for s in samples.seen] == ["/narrator.wav"]  # fetched once, by us

        # ElevenLabs got both samples, byte for byte, and the voice's tag.
        [call] = elevenlabs_fake.clone_calls()
        assert call.headers["xi-api-key"] == elevenlabs_fake.key
        [(provider_id, clone)] = elevenlabs_fake.cloned.items()
        assert [data for _, data in clone.samples] == [UPLOADED, FETCHED]
        assert clone.form["name"] == "Narrator"
        assert clone.form["description"].startswith(f"MediaStudio custom voice {voice['id']}")
        assert clone.voice["labels"] == {"language": "en"}
        assert await ledger_kinds(api, key, voice["id"]) == {
            "reserve": [PRICE],
            "capture": [-PRICE],
        }
        assert await balance(api, key) == (1000 - PRICE, 0)
        # The URL sample is the account's file now, like the upload.
        fetched = await api.client.get(f"{FILES}/{second['file_id']}", headers=auth(key))
        assert fetched.status_code == 200 and fetched.json()["bytes"] == len(FETCHED)

        # Listed among the speech voices, under ElevenLabs' models only; the provider's own
        # copy (in the operator's ElevenLabs account) is not listed as an engine voice.
        listed = (await api.client.get(VOICES, headers=auth(key))).json()
        mine = [v for v in listed["data"] if v["custom"]]
        assert {v["model"] for v in mine} == {
            "elevenlabs/eleven_multilingual_v2",
            "elevenlabs/eleven_flash_v2_5",
        }
        assert {(v["id"], v["name"], v["language"]) for v in mine} == {
            (voice["id"], "Narrator", "en")
        }
        assert provider_id not in {v["id"] for v in listed["data"]}
        read = await api.client.get(f"{VOICES}/{voice['id']}", headers=auth(key))
        assert read.status_code == 200 and read.json() == voice
        assert provider_id not in read.text  # the provider's id is never shown

        # Speech with it: ElevenLabs is asked for the provider's voice; the audio decodes.
        job = await _speak(api, key, voice["id"])
        assert job["_status"] == 202, job
        done = await api.wait(key, job["id"])
        assert done["status"] == "completed", done
        assert done["input"]["voice"] == voice["id"]
        assert elevenlabs_fake.speech_calls()[-1].path == f"/v1/text-to-speech/{provider_id}"
        assert await _seconds(api, done["outputs"][0]["url"]) > 1.0

        # The OpenAI-compatible surface takes it as `voice` too (the same create underneath).
        compat = await api.client.post(
            "/v1/audio/speech",
            headers=auth(key),
            json={"model": FLASH, "input": "Hello again.", "voice": voice["id"]},
        )
        assert compat.status_code == 200, compat.text
        assert compat.headers["content-type"] == "audio/mpeg"
        assert elevenlabs_fake.speech_calls()[-1].path == f"/v1/text-to-speech/{provider_id}"

        # Delete: at ElevenLabs, then the samples; gone for the API, kept as a record.
        deleted = await api.client.delete(f"{VOICES}/{voice['id']}", headers=auth(key))
        assert deleted.status_code == 204, deleted.text
        assert elevenlabs_fake.deleted == [provider_id]
        for sample in (first, second):
            gone = await api.client.get(f"{FILES}/{sample['file_id']}", headers=auth(key))
            assert gone.status_code == 404
        read = await api.client.get(f"{VOICES}/{voice['id']}", headers=auth(key))
        assert read.status_code == 404 and read.json()["error"]["code"] == "not_found"
        again = await api.client.delete(f"{VOICES}/{voice['id']}", headers=auth(key))
        assert again.status_code == 404
        refused = await _speak(api, key, voice["id"])
        assert refused["_status"] == 400 and refused["error"]["code"] == "invalid_request"
        listed = (await api.client.get(VOICES, headers=auth(key))).json()
        assert not [v for v in listed["data"] if v["custom"]]
        async with api.platform.db.read() as session:
            record = await voices_repository.get_any(session, voice["id"])
        assert record is not None and record.status == "deleted"
        assert record.deleted_at is not None and record.consent["statement"] == CONSENT_STATEMENT
        assert [s["sha256"] for s in record.samples] == [first["sha256"], second["sha256"]]


async def test_another_account_or_mode_never_sees_the_voice(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        owner_account = await api.account("owner@example.com")
        owner = await api.key(owner_account)
        upload = await _upload(api, owner, UPLOADED, "me.wav", "audio/wav")
        voice = await _clone(api, owner, {"name": "Mine", "samples": [upload], "consent": True})
        other = await api.key(await api.account("other@example.com"))
        owner_sandbox = await api.key(owner_account, sandbox=True)
        for key in (other, owner_sandbox):
            read = await api.client.get(f"{VOICES}/{voice['id']}", headers=auth(key))
            assert read.status_code == 404
            deleted = await api.client.delete(f"{VOICES}/{voice['id']}", headers=auth(key))
            assert deleted.status_code == 404
            listed = (await api.client.get(VOICES, headers=auth(key))).json()
            assert voice["id"] not in {v["id"] for v in listed["data"]}
        # Speech with another account's voice reads as an unknown voice (existence not leaked).
        refused = await _speak(api, other, voice["id"])
        unknown = await _speak(api, other, "voice_" + "0" * 26)
        assert refused["_status"] == unknown["_status"] == 400
        assert refused["error"]["message"].replace(voice["id"], "X") == unknown["error"][
            "message"
        ].replace("voice_" + "0" * 26, "X")
        assert not elevenlabs_fake.deleted
        assert len(elevenlabs_fake.speech_calls()) == 0


async def test_consent_and_samples_are_checked_and_nothing_is_charged(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        key = await live_key(api, credits=1000)
        upload = await _upload(api, key, UPLOADED, "me.wav", "audio/wav")
        png = await _upload(api, key, _png(), "face.png", "image/png")
        bodies: list[dict[str, Any]] = [
            {"name": "No consent", "samples": [upload]},
            {"name": "Refused", "samples": [upload], "consent": False},
            {"name": "Image", "samples": [png], "consent": True},
            {"name": "Unknown", "samples": ["file_" + "0" * 26], "consent": True},
            {"name": "None", "samples": [], "consent": True},
            {"name": "Bad ref", "samples": ["ftp://example.com/a.wav"], "consent": True},
            {"name": "Text", "samples": [samples.url("/notes.txt")], "consent": True},
        ]
        for body in bodies:
            answer = await _clone(api, key, body, status=400)
            assert answer["error"]["code"] == "invalid_request", (body, answer)
        no_consent = await _clone(api, key, bodies[0], status=400)
        assert "consent" in str(no_consent["error"]).lower()
        assert not elevenlabs_fake.clone_calls()
        assert await balance(api, key) == (1000, 0)
        files = (await api.client.get(FILES, headers=auth(key))).json()["data"]
        assert {f["id"] for f in files} == {upload, png}  # the fetched text file was not kept


async def test_a_failed_cloning_is_refunded_and_leaves_nothing(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        key = await live_key(api, credits=1000)
        upload = await _upload(api, key, UPLOADED, "me.wav", "audio/wav")
        body = {"name": "V", "samples": [upload, samples.url("/narrator.wav")], "consent": True}
        elevenlabs_fake.script(error(500, "internal", "Something broke."), endpoint=CLONE)
        failed = await _clone(api, key, body, status=502)
        assert failed["error"]["code"] == "provider_error"
        assert len(elevenlabs_fake.clone_calls()) == 1  # never repeated: it may have been made
        elevenlabs_fake.script(error(400, "invalid_audio", "Too short."), endpoint=CLONE)
        refused = await _clone(api, key, body, status=400)
        assert refused["error"]["code"] == "invalid_request"
        assert "Too short." in refused["error"]["message"]
        assert await balance(api, key) == (1000, 0)
        page = (await api.client.get("/api/v1/account/ledger", headers=auth(key))).json()
        kinds = sorted(entry["kind"] for entry in page["data"] if entry["kind"] != "grant")
        assert kinds == ["refund", "refund", "reserve", "reserve"]
        files = (await api.client.get(FILES, headers=auth(key))).json()["data"]
        assert [f["id"] for f in files] == [upload]  # the fetched samples were deleted
        listed = (await api.client.get(VOICES, headers=auth(key))).json()
        assert not [v for v in listed["data"] if v["custom"]]
        poor = await api.key(await api.account("poor@example.com", credits=10))
        poor_upload = await _upload(api, poor, UPLOADED, "me.wav", "audio/wav")
        broke = await _clone(
            api, poor, {"name": "V", "samples": [poor_upload], "consent": True}, status=402
        )
        assert broke["error"]["details"] == {"required": PRICE, "available": 10}
        assert len(elevenlabs_fake.clone_calls()) == 2


async def test_a_provider_failure_on_delete_leaves_it_deleting_until_deleted_again(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        key = await live_key(api)
        upload = await _upload(api, key, UPLOADED, "me.wav", "audio/wav")
        voice = await _clone(api, key, {"name": "V", "samples": [upload], "consent": True})
        failure = error(500, "internal", "Something broke.")
        elevenlabs_fake.script(failure, failure, failure, endpoint=VOICE_DELETE)
        deleted = await api.client.delete(f"{VOICES}/{voice['id']}", headers=auth(key))
        assert deleted.status_code == 502 and "DELETE again" in deleted.json()["error"]["message"]
        read = await api.client.get(f"{VOICES}/{voice['id']}", headers=auth(key))
        assert read.json()["status"] == "deleting"
        refused = await _speak(api, key, voice["id"])
        assert refused["_status"] == 400 and "deleting" in refused["error"]["message"]
        assert (await api.client.get(f"{FILES}/{upload}", headers=auth(key))).status_code == 200
        again = await api.client.delete(f"{VOICES}/{voice['id']}", headers=auth(key))
        assert again.status_code == 204
        assert len(elevenlabs_fake.deleted) == 1
        assert (await api.client.get(f"{FILES}/{upload}", headers=auth(key))).status_code == 404


async def test_an_idempotent_retry_clones_once(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        key = await live_key(api, credits=1000)
        upload = await _upload(api, key, UPLOADED, "me.wav", "audio/wav")
        body = {"name": "V", "samples": [upload], "consent": True}
        headers = {**auth(key), "Idempotency-Key": "clone-1"}
        first = await api.client.post(VOICES, json=body, headers=headers)
        second = await api.client.post(VOICES, json=body, headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.headers["idempotent-replayed"] == "true"
        assert first.json() == second.json()
        assert len(elevenlabs_fake.clone_calls()) == 1
        assert await balance(api, key) == (1000 - PRICE, 0)


async def test_without_an_elevenlabs_key_cloning_is_unavailable_with_its_reason(
    tmp_path: Path,
) -> None:
    async with open_api(make_settings(tmp_path / "data")) as api:
        key = await live_key(api)
        listed = (await api.client.get(VOICES, headers=auth(key))).json()
        reason = "set MEDIASTUDIO_PROVIDERS__ELEVENLABS__API_KEY"
        assert listed["cloning"] == {
            "available": False,
            "provider": "elevenlabs",
            "credits": PRICE,
            "unavailable_reason": reason,
        }
        upload = await _upload(api, key, UPLOADED, "me.wav", "audio/wav")
        answer = await _clone(
            api, key, {"name": "V", "samples": [upload], "consent": True}, status=503
        )
        assert answer["error"]["code"] == "model_unavailable"
        assert answer["error"]["details"] == {"provider": "elevenlabs", "reason": reason}
        assert await balance(api, key) == (1000, 0)


async def test_sandbox_keys_clone_placeholders_that_sandbox_speech_accepts(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        account = await api.account(credits=1000)
        sandbox = await api.key(account, sandbox=True)
        listed = (await api.client.get(VOICES, headers=auth(sandbox))).json()
        assert listed["cloning"]["available"] is True and listed["cloning"]["credits"] == 0
        upload = await _upload(api, sandbox, UPLOADED, "me.wav", "audio/wav")
        voice = await _clone(
            api,
            sandbox,
            {
                "name": "Test",
                "samples": [upload, samples.url("/narrator.wav"), _data_uri(UPLOADED)],
                "consent": True,
            },
        )
        assert voice["status"] == "ready" and voice["sandbox"] is True
        assert voice["credits_charged"] == 0 and len(voice["samples"]) == 3
        assert voice["samples"][2]["sha256"] == hashlib.sha256(UPLOADED).hexdigest()
        assert set(voice) == set(
            (await api.client.get(f"{VOICES}/{voice['id']}", headers=auth(sandbox))).json()
        )
        job = await _speak(api, sandbox, voice["id"], model="elevenlabs/eleven_multilingual_v2")
        assert job["_status"] == 202, job
        done = await api.wait(sandbox, job["id"])
        assert done["status"] == "completed" and done["sandbox"] is True
        assert done["outputs"][0]["content_type"] == "audio/mpeg"
        assert await _seconds(api, done["outputs"][0]["url"]) > 0.5
        deleted = await api.client.delete(f"{VOICES}/{voice['id']}", headers=auth(sandbox))
        assert deleted.status_code == 204
        # The provider never heard of any of it; no money moved.
        assert not elevenlabs_fake.clone_calls() and not elevenlabs_fake.speech_calls()
        assert not elevenlabs_fake.delete_calls()
        live = await api.key(account)
        assert await balance(api, live) == (1000, 0)


def _data_uri(data: bytes) -> str:
    return "data:audio/wav;base64," + base64.b64encode(data).decode()


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


async def test_a_cloning_abandoned_by_a_dead_process_is_refunded_by_the_sweeper(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        key = await live_key(api, credits=1000)
        account_id = (await api.client.get("/api/v1/account", headers=auth(key))).json()["id"]
        since = timedelta(seconds=api.platform.settings.chat_abandoned_after_s + 1)
        async with api.platform.db.write() as session:
            for voice_id, created_at in (("voice_old", utcnow() - since), ("voice_new", utcnow())):
                await voices_repository.add(
                    session,
                    CustomVoice(
                        id=voice_id,
                        account_id=account_id,
                        sandbox=False,
                        name="Interrupted",
                        provider="elevenlabs",
                        status="training",
                        consent={},
                        credits=PRICE,
                        created_at=created_at,
                    ),
                )
                await credits.reserve(session, account_id, PRICE, voice_id)
        assert await balance(api, key) == (1000 - 2 * PRICE, 2 * PRICE)
        await api.platform.sweeper.sweep()
        assert await balance(api, key) == (1000 - PRICE, PRICE)  # the recent one still runs
        assert await ledger_kinds(api, key, "voice_old") == {"reserve": [PRICE], "refund": [-PRICE]}
        async with api.platform.db.read() as session:
            assert await voices_repository.get_any(session, "voice_old") is None
            assert await voices_repository.get_any(session, "voice_new") is not None


async def test_a_voice_gone_at_elevenlabs_fails_the_job_naming_ours_not_theirs(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    async with open_api(_settings(tmp_path, elevenlabs_fake, samples)) as api:
        key = await live_key(api, credits=1000)
        upload = await _upload(api, key, UPLOADED, "me.wav", "audio/wav")
        voice = await _clone(api, key, {"name": "V", "samples": [upload], "consent": True})
        account_id = (await api.client.get("/api/v1/account", headers=auth(key))).json()["id"]
        async with api.platform.db.read() as session:
            row = await voices_repository.get(session, account_id, voice["id"], sandbox=False)
        assert row is not None and row.provider_voice_id
        theirs = row.provider_voice_id
        # Deleted at ElevenLabs behind our back: its 404 names its own id.
        elevenlabs_fake.script(
            error(404, "voice_not_found", f"A voice with the voice_id {theirs} was not found.")
        )
        job = await _speak(api, key, voice["id"])
        done = await api.wait(key, job["id"])
        assert done["status"] == "failed" and done["error"]["code"] == "invalid_input"
        assert voice["id"] in done["error"]["message"]
        assert theirs not in done["error"]["message"]


async def test_a_voice_deleted_before_its_speech_runs_fails_the_job_refunded(
    tmp_path: Path, elevenlabs_fake: FakeElevenLabs, samples: LoopbackServer
) -> None:
    no_workers = {"workers_cpu": 0, "workers_gpu": 0, "workers_io": 0, "workers_remote": 0}
    settings = elevenlabs_settings(
        tmp_path / "data",
        elevenlabs_fake,
        net_allow_hosts=f"127.0.0.1:{samples.port}",
        **no_workers,
    )
    async with open_api(settings) as api:
        key = await live_key(api, credits=1000)
        upload = await _upload(api, key, UPLOADED, "me.wav", "audio/wav")
        voice = await _clone(api, key, {"name": "V", "samples": [upload], "consent": True})
        job = await _speak(api, key, voice["id"])
        assert job["_status"] == 202 and job["status"] == "queued"
        deleted = await api.client.delete(f"{VOICES}/{voice['id']}", headers=auth(key))
        assert deleted.status_code == 204
        await api.platform.runner.run(job["id"])  # as a worker would, once free
        done = await api.wait(key, job["id"])
        assert done["status"] == "failed" and done["error"]["code"] == "invalid_input"
        assert voice["id"] in done["error"]["message"]
        assert done["credits_refunded"] == done["credits_reserved"]
        assert not elevenlabs_fake.speech_calls()
