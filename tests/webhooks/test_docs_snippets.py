"""The copy-paste verification code in docs/webhooks.md works on real deliveries, rotation
included (the Node one run with ``node``)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from mediastudio.webhooks.signing import new_secret, serialise, signature_headers
from tests.webhooks.node_verify import NODE

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def block(start: str, end: str) -> str:
    text = DOCS.read_text()
    found = re.search(re.escape(start) + r".*?\n" + re.escape(end) + r"\n", text, re.S)
    assert found, f"{start!r} not in {DOCS.name}"
    return found.group(0)


def delivery(secrets: list[str], *, tamper: bool = False) -> tuple[bytes, dict[str, str]]:
    body = serialise({"id": "evt_1", "event": "webhook.test", "data": {"p": "Zoë 🌅"}})
    headers = signature_headers("evt_1", int(time.time()), body, secrets)
    return (body + b" " if tamper else body), headers


def test_python_snippet_verifies_both_secrets_during_rotation() -> None:
    namespace: dict[str, Any] = {}
    exec(block("import base64, hashlib, hmac, time", "    )"), namespace)
    verify = cast(Callable[[bytes, dict[str, str], str], bool], namespace["verify"])
    new, old = new_secret(), new_secret()
    body, headers = delivery([new, old])
    assert verify(body, headers, new) and verify(body, headers, old)
    assert not verify(body, headers, new_secret())
    assert not verify(*delivery([new], tamper=True), new)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_node_snippet_verifies_both_secrets_during_rotation() -> None:
    function = block("function verifyWebhookSignature(rawBody, header, secret) {", "}")
    new, old = new_secret(), new_secret()
    body, headers = delivery([new, old])
    bad_body, bad_headers = delivery([new], tamper=True)
    cases = [
        (body, headers, new, True),
        (body, headers, old, True),
        (body, headers, new_secret(), False),
        (bad_body, bad_headers, new, False),
    ]
    script = function + (
        "\nconst cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "\nprocess.stdout.write(JSON.stringify(cases.map(([b, h, s]) =>"
        " verifyWebhookSignature(b, h, s))));"
    )
    script = "const crypto = require('crypto');\n" + script
    stdin = json.dumps([[b.decode(), h["X-Webhook-Signature"], s] for b, h, s, _ in cases])
    assert NODE is not None
    result = subprocess.run(
        [NODE, "-e", script], input=stdin.encode(), capture_output=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == [expected for *_, expected in cases]
