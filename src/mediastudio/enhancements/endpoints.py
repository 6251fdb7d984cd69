"""HTTP for enhancements: parse, authorise, call the service, shape the response."""

from __future__ import annotations

from fastapi import APIRouter

from mediastudio.kit.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1", tags=["enhancements"], responses=ERROR_RESPONSES)
