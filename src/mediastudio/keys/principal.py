"""Who is calling: the authenticated key, its account and plan. Free of HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from mediastudio.settings import Plan


@dataclass(frozen=True, slots=True)
class Principal:
    account_id: str
    key_id: str
    sandbox: bool
    scopes: frozenset[str]
    plan_name: str
    plan: Plan
