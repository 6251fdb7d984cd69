"""The objects the SDK returns: a generation and its outputs, parsed from the API's JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mediastudio.client.core import TERMINAL


@dataclass(frozen=True)
class JobError:
    code: str
    message: str


@dataclass(frozen=True)
class Credits:
    reserved: int
    charged: int
    refunded: int


@dataclass
class OutputData:
    url: str
    content_type: str
    bytes: int | None
    width: int | None
    height: int | None
    duration_s: float | None

    @classmethod
    def fields_of(cls, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": body["url"],
            "content_type": body.get("content_type", "application/octet-stream"),
            "bytes": body.get("bytes"),
            "width": body.get("width"),
            "height": body.get("height"),
            "duration_s": body.get("duration_s"),
        }


class GenerationData:
    """The fields of a generation; :class:`~mediastudio.client.sync.Generation` and its async
    twin add ``outputs`` and the calls (``wait``, ``cancel``)."""

    id: str
    type: str
    model: str
    status: str
    progress: int
    error: JobError | None
    credits: Credits
    sandbox: bool
    external_id: str | None
    metadata: dict[str, Any]
    created_at: str | None
    raw: dict[str, Any]

    def _load(self, body: dict[str, Any]) -> None:
        """Take every field ``body`` has: a whole generation, or just status and progress."""
        self.raw = {**getattr(self, "raw", {}), **body}
        raw = self.raw
        self.id = raw["id"]
        self.type = raw.get("type", "")
        self.model = raw.get("model", "")
        self.status = raw.get("status", "queued")
        self.progress = int(raw.get("progress") or 0)
        error = raw.get("error")
        self.error = JobError(error["code"], error["message"]) if error else None
        self.credits = Credits(
            int(raw.get("credits_reserved") or 0),
            int(raw.get("credits_charged") or 0),
            int(raw.get("credits_refunded") or 0),
        )
        self.sandbox = bool(raw.get("sandbox", False))
        self.external_id = raw.get("external_id")
        self.metadata = raw.get("metadata") or {}
        self.created_at = raw.get("created_at")

    @property
    def done(self) -> bool:
        """The job is terminal: completed, partially completed, failed or cancelled."""
        return self.status in TERMINAL

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(id={self.id!r}, status={self.status!r}, "
            f"progress={self.progress})"
        )
