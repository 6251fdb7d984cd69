from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class FileRead(BaseModel):
    id: str = Field(description='Use it as any *_url input of a job: "image_url": "file_…"')
    object: str = "file"
    filename: str
    content_type: str = Field(description="Sniffed from the content, not from the name")
    bytes: int
    sha256: str
    sandbox: bool
    url: str = Field(description="A signed download URL (expires)")
    created_at: datetime


class FileList(BaseModel):
    object: str = "list"
    data: list[FileRead]
    has_more: bool
    next_cursor: str | None
