from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base, JSONType


class ApiKey(Base):
    __tablename__ = "api_keys"
    # What the principal cache (keys/cache.py) copies: a change to any of these reaches every
    # process's cache at once (kit/changes.py). last_used_at is a hint it keeps itself.
    __table_args__ = {
        "info": {
            "watched": frozenset(
                {
                    "id",
                    "account_id",
                    "key_hash",
                    "sandbox",
                    "scopes",
                    "ip_allowlist",
                    "expires_at",
                    "revoked_at",
                }
            )
        }
    }

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # Only the SHA-256 of the secret is stored; prefix and last four identify it to people.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    last_four: Mapped[str] = mapped_column(String(4))
    sandbox: Mapped[bool] = mapped_column(default=False)
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    ip_allowlist: Mapped[list[str]] = mapped_column(JSONType, default=list)
    expires_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
