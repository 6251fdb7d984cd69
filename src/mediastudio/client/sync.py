"""The blocking client: ``Client(api_key=…).generate.image(prompt=…).wait()``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import httpx

from mediastudio.client import core
from mediastudio.client.errors import GenerationFailedError, MediaStudioError
from mediastudio.client.resources import (
    AccountResource,
    Chat,
    Events,
    Files,
    Models,
    Templates,
    Voices,
    Webhooks,
)
from mediastudio.client.types import GenerationData, OutputData

ProgressCallback = Callable[["Generation"], None]


class Output(OutputData):
    def __init__(self, client: Client, body: dict[str, Any]) -> None:
        super().__init__(**OutputData.fields_of(body))
        self._client = client

    def download(self, path: str | Path) -> Path:
        """Stream the file to ``path`` (never all in memory); returns the path."""
        return self._client._download(self.url, Path(path))


class Generation(GenerationData):
    outputs: list[Output]

    def __init__(self, client: Client, body: dict[str, Any]) -> None:
        self._client = client
        self._update(body)

    def _update(self, body: dict[str, Any]) -> None:
        self._load(body)
        self.outputs = [Output(self._client, item) for item in self.raw.get("outputs") or []]

    def refresh(self) -> Generation:
        self._update(self._client._send(core.get(f"/generations/{self.id}")))
        return self

    def cancel(self) -> Generation:
        self._update(self._client._send(core.action(f"/generations/{self.id}/cancel")))
        return self

    def retry(self) -> Generation:
        """Run this failed job again (same id; its price is reserved again)."""
        self._update(self._client._send(core.action(f"/generations/{self.id}/retry")))
        return self

    def wait(
        self,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        poll_interval: float = 1.0,
    ) -> Generation:
        """Block until the job is terminal, following its event stream (``client.events``:
        resumed after a broken connection without losing an event), and polling every
        ``poll_interval`` seconds only if the stream is refused or cannot be had;
        ``on_progress`` gets this object after each change of status or progress. Raises
        ``TimeoutError`` after ``timeout`` seconds (the job keeps running)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            if not self.done:
                # The stream is the shortcut; polling below is the truth when it fails.
                with suppress(httpx.HTTPError, MediaStudioError, ValueError):
                    self._follow(deadline, on_progress)
            while not self.done:
                pause = poll_interval
                if deadline is not None:
                    if time.monotonic() >= deadline:
                        raise TimeoutError
                    pause = min(pause, deadline - time.monotonic())
                time.sleep(max(0.0, pause))
                before = (self.status, self.progress)
                self.refresh()
                if on_progress is not None and (self.status, self.progress) != before:
                    on_progress(self)
        except TimeoutError:
            raise TimeoutError(f"generation {self.id} is still {self.status}") from None
        return self

    def _follow(self, deadline: float | None, on_progress: ProgressCallback | None) -> None:
        with closing(self._client.events._follow(self.id, None, deadline)) as events:
            for event in events:
                before = (self.status, self.progress)
                update = core.event_update(event.type, event.raw)
                if update:
                    self._update(update)
                if on_progress is not None and (self.status, self.progress) != before:
                    on_progress(self)
                if self.done:
                    return


class Generate:
    """``client.generate.image(prompt=…)``: typed creates, returning at once (202)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _create(self, kind: str, body: dict[str, Any]) -> Generation:
        return Generation(self._client, self._client._send(core.create(f"/generate/{kind}", body)))

    def image(self, *, prompt: str, **options: Any) -> Generation:
        return self._create("image", {"prompt": prompt, **options})

    def video(self, *, prompt: str, **options: Any) -> Generation:
        return self._create("video", {"prompt": prompt, **options})

    def speech(self, *, text: str, **options: Any) -> Generation:
        return self._create("speech", {"text": text, **options})

    def music(self, *, prompt: str, **options: Any) -> Generation:
        return self._create("music", {"prompt": prompt, **options})

    def tool(self, route: str, **body: Any) -> Generation:
        """Any other typed create by its route under ``/api/v1``: ``tool("images/upscale",
        image_url=…, scale=2)``, ``tool("videos/subtitles", video_url=…)``."""
        created = self._client._send(core.create(core.tool_path(route), body))
        return Generation(self._client, created)


class Generations:
    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, model: str, input: dict[str, Any], **envelope: Any) -> Generation:
        """Any catalog model: ``POST /generations {model, input, …}``."""
        body = {"model": model, "input": input, **envelope}
        return Generation(self._client, self._client._send(core.create("/generations", body)))

    def get(self, generation_id: str) -> Generation:
        return Generation(
            self._client, self._client._send(core.get(f"/generations/{generation_id}"))
        )

    def cancel(self, generation_id: str) -> Generation:
        body = self._client._send(core.action(f"/generations/{generation_id}/cancel"))
        return Generation(self._client, body)

    def retry(self, generation_id: str) -> Generation:
        """Run a failed job again: ``POST /generations/{id}/retry`` (the same job, queued)."""
        body = self._client._send(core.action(f"/generations/{generation_id}/retry"))
        return Generation(self._client, body)

    def list(self, *, limit: int = 20, **filters: Any) -> Iterator[Generation]:
        """Every matching generation, newest first, fetching pages of ``limit`` as you go
        (``type``, ``status``, ``model``, ``external_id`` filter)."""
        params: dict[str, Any] = {"limit": limit, **filters}
        while True:
            page = self._client._send(core.get("/generations", params))
            for item in page["data"]:
                yield Generation(self._client, item)
            if not page.get("has_more") or not page.get("next_cursor"):
                return
            params["starting_after"] = page["next_cursor"]


class Client:
    """The MediaStudio API. Reads ``MEDIASTUDIO_API_KEY`` and ``MEDIASTUDIO_URL`` when not given.

    Connection errors, 429 (after ``Retry-After``) and 503 are retried ``max_retries`` times with
    exponential backoff; every create carries its own ``Idempotency-Key``, so retrying it never
    makes a second job."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._config = core.configure(
            api_key, base_url, timeout=timeout, max_retries=max_retries, backoff_s=backoff_s
        )
        self._http = http_client or httpx.Client(timeout=timeout)
        self.generate = Generate(self)
        self.generations = Generations(self)
        self.files = Files(self)
        self.webhooks = Webhooks(self)
        self.events = Events(self, lambda body: Generation(self, body))
        self.chat = Chat(self)
        self.account = AccountResource(self)
        self.models = Models(self)
        self.voices = Voices(self)
        self.templates = Templates(self, lambda body: Generation(self, body))

    @property
    def base_url(self) -> str:
        return self._config.base_url

    def run(
        self,
        model: str,
        input: dict[str, Any],
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
        **envelope: Any,
    ) -> Generation:
        """Create a job and wait for it; raises :class:`GenerationFailedError` if it failed or
        was cancelled."""
        generation = self.generations.create(model, input, **envelope).wait(timeout, on_progress)
        if generation.status in core.FAILED:
            error = generation.error
            message = error.message if error else f"generation {generation.status}"
            raise GenerationFailedError(
                message, generation=generation, code=error.code if error else generation.status
            )
        return generation

    def _send(self, call: core.Call) -> Any:
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    call.method,
                    call.url(self._config),
                    json=call.json,
                    params=call.params,
                    files=call.files,
                    headers=call.all_headers(self._config),
                )
            except httpx.TransportError as exc:
                if not core.transport_retryable(self._config, attempt, call, exc):
                    raise core.connection_error(exc) from exc
                time.sleep(core.backoff(self._config, attempt))
                attempt += 1
                continue
            delay = core.retry_delay(self._config, attempt, response)
            if delay is None:
                return core.parse(response)
            time.sleep(delay)
            attempt += 1

    def _download(self, url: str, path: Path) -> Path:
        with self._http.stream("GET", url, follow_redirects=True) as response:
            if not response.is_success:
                response.read()
                core.parse(response)
            with path.open("wb") as file:
                for chunk in response.iter_bytes():
                    file.write(chunk)
        return path

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
