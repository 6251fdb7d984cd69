"""Magic prompts: like test card numbers, they make sandbox jobs misbehave on purpose.

Put them anywhere in ``prompt`` (or ``text``) under an ``ms_test_`` key:

- ``[fail:<code>]`` fails the job with that code: ``provider_error``, ``engine_error``,
  ``invalid_input`` or ``job_timeout``;
- ``[crash]`` makes the engine raise an unexpected exception (reported as ``engine_error``);
- ``[slow:<seconds>]`` adds that many seconds (at most 600), with progress and cancellation;
- ``[partial]`` fails every output after the first (in a job of several outputs, e.g.
  ``num_outputs`` ≥ 2): the job ends ``partially_completed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mediastudio.engines.contract import EngineError, InvalidInput, JobTimeout, ProviderError

FAILURES: dict[str, type[EngineError]] = {
    "provider_error": ProviderError,
    "engine_error": EngineError,
    "invalid_input": InvalidInput,
    "job_timeout": JobTimeout,
}
MAX_SLOW_S = 600.0

_FAIL = re.compile(r"\[fail:([a-z_]+)\]")
_SLOW = re.compile(r"\[slow:(\d+(?:\.\d+)?)\]")


@dataclass(frozen=True)
class Magic:
    fail: str | None = None
    crash: bool = False
    slow_s: float = 0.0
    partial: bool = False

    def failure(self) -> EngineError | None:
        if self.fail is None:
            return None
        error_class = FAILURES[self.fail]
        return error_class(f"Sandbox: failed on purpose with {self.fail} ([fail:{self.fail}]).")


def parse(text: str | None) -> Magic:
    if not text:
        return Magic()
    fail = _FAIL.search(text)
    slow = _SLOW.search(text)
    code = fail.group(1) if fail and fail.group(1) in FAILURES else None
    return Magic(
        fail=code,
        crash="[crash]" in text,
        slow_s=min(float(slow.group(1)), MAX_SLOW_S) if slow else 0.0,
        partial="[partial]" in text,
    )
