from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("credit_balance >= 0", name="balance_not_negative"),
        CheckConstraint("credits_reserved >= 0", name="reserved_not_negative"),
        # The plan is copied by the principal cache (keys/cache.py; kit/changes.py): changing
        # it, or deleting an account, must reach every process's cache at once. Balances are
        # not copied, so the credit updates of every live create do not count.
        {"info": {"watched": frozenset({"id", "plan"})}},
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    plan: Mapped[str] = mapped_column(String(64))
    # Both are caches of the ledger's sums, updated in the same transaction as each entry.
    credit_balance: Mapped[int] = mapped_column(default=0)
    credits_reserved: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
