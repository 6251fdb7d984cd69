"""Payload bytes and both signature schemes, checked by their reference verifiers: the
``standardwebhooks`` library and seed 000's Node snippet (run with ``node``)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from mediastudio import WebhookVerificationError as OurVerificationError
from mediastudio import verify_webhook
from mediastudio.generations.models import Status
from mediastudio.kit.clock import utcnow
from mediastudio.webhooks.events import event_for
from mediastudio.webhooks.outbox import event_payload
from mediastudio.webhooks.signing import js_number, new_secret, serialise, signature_headers
from tests.webhooks.node_verify import NODE, node_verify

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

ACCENTS_AND_EMOJI = "Crème brûlée à la façon de Zoë — 東京 🌅🚀 naïve café"
TRICKY: list[Any] = [
    {"prompt": ACCENTS_AND_EMOJI},
    {"slash": "a/b</script>", "quote": 'say "hi"', "backslash": "C:\\dir"},
    {"separators": "line\u2028para\u2029end", "controls": "\x00\x01\x1f\x7f\b\f\n\r\t"},
    {"lone": "\ud800 and \udfff", "pair": "\U0001f600"},
    {"floats": [1.0, 3.5, 0.1, 1e-7, 1.5e-7, 1e21, 1e20, 1e16, 2.5e15, -0.0, 5e-324, 12.3456]},
    {"ints": [0, -1, 2**53 - 1], "bools": [True, False, None]},
    {"b": 1, "10": 2, "2": 3, "a": {"1": "x", "0": "y", "-1": "z", "01": "w"}},
    {"nan": float("nan"), "inf": float("inf")},
    {"nested": [[], {}, [{}], ""], "unicode_keys": {"clé": "valeur", "🔑": "🚪"}},
]


@pytest.mark.parametrize("value", [1.0, 3.5, 1e-7, 1e21, 1e20, 123456789.125, 5e-324, -2.5e-9])
def test_numbers_are_written_as_javascript_writes_them(value: float) -> None:
    assert float(js_number(value)) == value


def test_payload_bytes_survive_json_stringify_and_match_the_seed_signature() -> None:
    secret = new_secret()
    now = int(time.time())
    cases = []
    for value in TRICKY:
        body = serialise(value)
        header = signature_headers("evt_x", now, body, [secret])["X-Webhook-Signature"]
        cases.append((body, header, secret))
    results = node_verify(cases)
    assert results == [{"ok": True, "same": True}] * len(TRICKY), list(
        zip(TRICKY, results, strict=True)
    )


def test_compact_utf8_with_non_ascii_as_itself() -> None:
    body = serialise({"prompt": ACCENTS_AND_EMOJI, "n": [1, 2.5]})
    assert (
        body
        == '{"prompt":"Crème brûlée à la façon de Zoë — 東京 🌅🚀 naïve café","n":[1,2.5]}'.encode()
    )
    assert json.loads(body) == {"prompt": ACCENTS_AND_EMOJI, "n": [1, 2.5]}


def test_standard_webhooks_library_verifies_every_secret_that_signs() -> None:
    new, old = new_secret(), new_secret()
    body = event_payload("evt_1", "generation.completed", {"prompt": ACCENTS_AND_EMOJI}, _now())
    raw = body.encode()
    headers = signature_headers("evt_1", int(time.time()), raw, [new, old])
    assert headers["webhook-signature"].count("v1,") == 2
    for secret in (new, old):
        assert Webhook(secret).verify(raw, headers)["data"]["prompt"] == ACCENTS_AND_EMOJI
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(raw, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(raw.replace(b"completed", b"failed"), headers)


def test_seed_scheme_during_rotation_carries_both_and_node_accepts_the_new_one() -> None:
    new, old = new_secret(), new_secret()
    raw = serialise({"event": "generation.completed", "data": {"prompt": ACCENTS_AND_EMOJI}})
    header = signature_headers("evt_1", int(time.time()), raw, [new, old])["X-Webhook-Signature"]
    assert header.count("v1=") == 2
    # The seed's snippet reads the first v1 only, and the newest secret comes first; our
    # verify_webhook (and the docs' snippets) accept any of them.
    assert node_verify([(raw, header, new)]) == [{"ok": True, "same": True}]
    for secret in (new, old):
        assert verify_webhook(raw, {"X-Webhook-Signature": header}, secret)["event"]


def test_verify_webhook_refuses_tampering_other_secrets_and_old_timestamps() -> None:
    secret = new_secret()
    raw = serialise({"id": "evt_1", "event": "webhook.test", "data": {}})
    stale = int(time.time()) - 301
    headers = signature_headers("evt_1", int(time.time()), raw, [secret])
    assert verify_webhook(raw, headers, secret)["id"] == "evt_1"
    seed_only = {"X-Webhook-Signature": headers["X-Webhook-Signature"]}
    assert verify_webhook(raw.decode(), seed_only, secret)["id"] == "evt_1"
    for bad in (
        lambda: verify_webhook(raw + b" ", headers, secret),
        lambda: verify_webhook(raw, headers, new_secret()),
        lambda: verify_webhook(raw, seed_only, new_secret()),
        lambda: verify_webhook(raw, signature_headers("evt_1", stale, raw, [secret]), secret),
        lambda: verify_webhook(raw, {}, secret),
    ):
        with pytest.raises(OurVerificationError):
            bad()


def test_enhancements_emit_their_own_events() -> None:
    assert event_for("image", Status.COMPLETED) == "generation.completed"
    assert event_for("image", Status.CANCELLED) == "generation.cancelled"
    assert event_for("product-enhancement", Status.PARTIALLY_COMPLETED) == (
        "enhancement.partially_completed"
    )
    assert event_for("product-enhancement", Status.FAILED) == "enhancement.failed"
    assert event_for("image", Status.PROCESSING) is None


def _now() -> datetime:
    return utcnow()


def test_integers_beyond_2_53_are_sent_as_javascript_reads_them() -> None:
    body = serialise({"order_id": 1152921504606846976, "safe": 2**53, "small": -(2**60)})
    assert (
        body
        == b'{"order_id":1152921504606847000,"safe":9007199254740992,"small":-1152921504606847000}'
    )
    assert node_verify_roundtrip(body)


def node_verify_roundtrip(body: bytes) -> bool:
    """JSON.stringify(JSON.parse(body)) gives back the same bytes."""
    import subprocess

    assert NODE is not None
    script = (
        "let s='';process.stdin.on('data',d=>s+=d)"
        ".on('end',()=>process.stdout.write(JSON.stringify(JSON.parse(s))))"
    )
    out = subprocess.run([NODE, "-e", script], input=body, capture_output=True, check=True)
    return out.stdout == body


def test_a_non_ascii_seed_signature_is_refused_not_crashed() -> None:
    secret = new_secret()
    body = serialise({"a": 1})
    now = int(time.time())
    headers = {"X-Webhook-Signature": f"t={now},v1=é"}
    with pytest.raises(OurVerificationError):
        verify_webhook(body, headers, secret)
