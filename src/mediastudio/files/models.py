from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base


class StoredFile(Base):
    """A file an account uploaded, to be used as a job's input (``file_…`` ids)."""

    __tablename__ = "files"
    __table_args__ = (Index("ix_files_account_id_sandbox_id", "account_id", "sandbox", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    sandbox: Mapped[bool] = mapped_column(default=False)
    key: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
