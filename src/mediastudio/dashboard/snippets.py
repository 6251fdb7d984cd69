"""The playground's "same request from code": curl and the Python SDK for exactly the input a
run sent (``POST /api/v1/generations``, the route that takes any catalog model)."""

from __future__ import annotations

import json
import pprint
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Snippets:
    curl: str
    python: str


def _shell_quote(text: str) -> str:
    """One single-quoted shell word: inside single quotes nothing is special but the quote."""
    return "'" + text.replace("'", "'\\''") + "'"


def snippets(base_url: str, model: str, input: dict[str, Any], *, sandbox: bool) -> Snippets:
    """The request a key of the run's mode would send; the key comes from the environment
    (``MEDIASTUDIO_API_KEY``), never from the page."""
    base = base_url.rstrip("/")
    key_kind = "ms_test_…" if sandbox else "ms_live_…"
    body = json.dumps({"model": model, "input": input}, indent=2, ensure_ascii=False)
    curl = "\n".join(
        [
            f"# MEDIASTUDIO_API_KEY: a {'test' if sandbox else 'live'} key ({key_kind})",
            f"curl -X POST {_shell_quote(base + '/api/v1/generations')} \\",
            '  -H "Authorization: Bearer $MEDIASTUDIO_API_KEY" \\',
            '  -H "Content-Type: application/json" \\',
            f"  -d {_shell_quote(body)}",
        ]
    )
    literal = pprint.pformat(input, indent=4, width=80, sort_dicts=False)
    python = "\n".join(
        [
            "from mediastudio import Client",
            "",
            f"# MEDIASTUDIO_API_KEY: a {'test' if sandbox else 'live'} key ({key_kind})",
            f"client = Client(base_url={base!r})",
            "generation = client.run(",
            f"    {model!r},",
            f"    input={_indent(literal)},",
            "    timeout=600,",
            ")",
            "for n, output in enumerate(generation.outputs):",
            '    print(output.url)  # or output.download(f"output-{n}")',
        ]
    )
    return Snippets(curl=curl, python=python)


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")
