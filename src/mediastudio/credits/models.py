from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from mediastudio.kit.clock import utcnow
from mediastudio.kit.db import Base


class LedgerEntry(Base):
    """One movement of credits. Never updated, never deleted.

    ``amount`` is the signed change to the account's available balance and ``reserved_delta`` the
    signed change to its reserved credits, so that for every account
    ``credit_balance == sum(amount)`` and ``credits_reserved == sum(reserved_delta)``:

    ========  ========  ==============
    kind      amount    reserved_delta
    ========  ========  ==============
    grant     +n        0
    reserve   -n        +n
    capture   0         -n
    refund    +n        -n
    ========  ========  ==============
    """

    __tablename__ = "credit_ledger"
    __table_args__ = (Index("ix_credit_ledger_account_id_id", "account_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column()
    reserved_delta: Mapped[int] = mapped_column()
    balance_after: Mapped[int] = mapped_column()
    # A plain column, not a foreign key: deleting a generation keeps its money trail.
    generation_id: Mapped[str | None] = mapped_column(String(40), index=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
