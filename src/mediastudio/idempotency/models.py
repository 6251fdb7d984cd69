from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base, JSONType


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    # Live and sandbox keys of one account never share an Idempotency-Key.
    sandbox: Mapped[bool] = mapped_column(primary_key=True, default=False)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    # "processing" while the first request runs; "completed" once its response is stored.
    state: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    locked_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
