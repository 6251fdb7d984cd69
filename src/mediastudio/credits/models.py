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


class CreditGrantToken(Base):
    """The one-time token of an operator's Grant form (docs/dashboard.md, "Operator pages").

    The first post of a form grants and records here the ledger row it wrote, in the same
    transaction; a replay of that form (a double submit, back and resubmit) finds the row and
    answers with the same ledger entry instead of granting again. The primary key makes two
    posts of one token at the same moment grant once: the second insert fails and its whole
    transaction, grant included, rolls back. Rows are kept, like the ledger they point to.
    """

    __tablename__ = "credit_grant_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    amount: Mapped[int] = mapped_column()
    description: Mapped[str] = mapped_column(String(500))
    ledger_entry_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
