"""How engines receive user-supplied inputs: through the SSRF-safe fetcher, as local files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mediastudio.engines.contract import InvalidInput
from mediastudio.kit.fetch import FetchError, NetPolicy, fetch_input


class SafeFetcher:
    """The engines' :class:`~mediastudio.engines.contract.InputFetcher`. A URL that cannot be
    fetched safely fails the job with ``invalid_input`` (the user's URL is the problem) and a
    message that says why."""

    def __init__(self, workdir: Path, policy: NetPolicy) -> None:
        self.workdir = workdir
        self.policy = policy

    def fetch(self, url: str, *, max_bytes: int | None = None) -> Path:
        limit = (
            self.policy.max_bytes if max_bytes is None else min(max_bytes, self.policy.max_bytes)
        )
        try:
            return fetch_input(url, self.workdir, replace(self.policy, max_bytes=limit))
        except FetchError as exc:
            raise InvalidInput(str(exc)) from exc
