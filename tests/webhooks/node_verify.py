"""Seed 000's own Node verifier, run with ``node``: the receiving side of our signatures.

The function below is the seed's snippet as published (only wrapped in a script that reads the
body, header and secret from stdin). Like an Express app behind ``express.json()``, the script
parses the body first and hands the *parsed* payload to the verifier, which re-serialises it
with ``JSON.stringify`` — so it accepts our signature only if our bytes are exactly what
``JSON.stringify`` writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess

NODE = shutil.which("node")

SCRIPT = r"""
import crypto from 'crypto';

function verifyWebhookSignature(payload, signature, secret) {
  const [timestamp, hash] = signature.split(',').map(part => {
    const [key, value] = part.split('=');
    return value;
  });

  // Verify timestamp is recent (within 5 minutes)
  const now = Math.floor(Date.now() / 1000);
  if (Math.abs(now - parseInt(timestamp)) > 300) {
    return false; // Replay attack protection
  }

  const expectedHash = crypto
    .createHmac('sha256', secret)
    .update(`${timestamp}.${JSON.stringify(payload)}`)
    .digest('hex');

  return crypto.timingSafeEqual(
    Buffer.from(hash),
    Buffer.from(expectedHash)
  );
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', chunk => { input += chunk; });
process.stdin.on('end', () => {
  const results = JSON.parse(input).map(({ body, signature, secret }) => {
    const payload = JSON.parse(body);  // what express.json() hands the handler
    let ok;
    try { ok = verifyWebhookSignature(payload, signature, secret); } catch (e) { ok = false; }
    return { ok, same: JSON.stringify(payload) === body };
  });
  process.stdout.write(JSON.stringify(results));
});
"""


def node_verify(cases: list[tuple[bytes, str, str]]) -> list[dict[str, bool]]:
    """``[(body, X-Webhook-Signature, secret)]`` → ``[{ok, same}]`` as the seed's Node snippet
    sees them (``same``: ``JSON.stringify(JSON.parse(body))`` gives back our bytes)."""
    assert NODE is not None, "node is needed for these tests"
    stdin = json.dumps(
        [{"body": b.decode("utf-8"), "signature": s, "secret": k} for b, s, k in cases]
    )
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", SCRIPT],
        input=stdin.encode("utf-8"),
        capture_output=True,
        timeout=60,
        check=True,
    )
    decoded: list[dict[str, bool]] = json.loads(result.stdout)
    return decoded
