"""Key management's bodies (seed 000's ``POST/GET/DELETE /api/v1/keys``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from mediastudio.keys.models import ApiKey
from mediastudio.keys.service import ALL_SCOPES, status_of
from mediastudio.kit.clock import utcnow


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "production server", "scopes": ["read"]}]}
    )

    name: str = Field(min_length=1, max_length=200, description="Display name for the key")
    scopes: list[str] = Field(
        default_factory=lambda: ["read"],
        max_length=len(ALL_SCOPES),
        description=f"Permission scopes (seed 000's default: read); any of {list(ALL_SCOPES)}",
    )
    ip_allowlist: list[str] = Field(
        default_factory=list, max_length=100, description="Allowed addresses or CIDR ranges"
    )
    expires_at: datetime | None = Field(None, description="Expiry (ISO 8601), in the future")
    sandbox: bool = Field(False, description="A test key (ms_test_: sandbox, no credits)")


class KeyRead(BaseModel):
    id: str
    object: str = "api_key"
    name: str
    prefix: str
    last_four: str
    sandbox: bool
    scopes: list[str]
    ip_allowlist: list[str]
    status: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeyRead:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            last_four=key.last_four,
            sandbox=key.sandbox,
            scopes=list(key.scopes),
            ip_allowlist=list(key.ip_allowlist),
            status=status_of(key, utcnow()),
            created_at=key.created_at,
            expires_at=key.expires_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )


class KeyWithSecret(KeyRead):
    key: str = Field(description="The key itself: shown once, never again")


class KeyList(BaseModel):
    object: str = "list"
    data: list[KeyRead]
