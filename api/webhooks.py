"""`POST /webhooks/nango`: Nango's signed webhooks become connection events in the app DB.

Checks run cheapest and safest first: keys configured (503), size (413), signature over the raw
bytes (401, one message for every failure; the reason is logged), JSON (400), shape (400). Then
`sylo.nango.webhooks.receive` records the event; the connections sensor does the rest, so
the answer comes in milliseconds, well inside Nango's 20 s timeout (reference/nango.md §5).
Anything signed and well formed gets 200, even when ignored: Nango retries only 5xx.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from api.bodies import BodyTooLarge, InvalidJson, parse_json, read_body
from api.problems import Problem
from sylo.nango.webhooks import SIGNATURE_HEADER, receive, schema_error, signature_matches

bp = Blueprint("nango_webhooks", __name__)
log = logging.getLogger(__name__)
MAX_BODY = 256 * 1024  # auth webhooks are under 1 KiB; forwarded provider payloads are the big ones
CHALLENGE = f'{SIGNATURE_HEADER} realm="sylo"'


@bp.post("/webhooks/nango")
def nango_webhook() -> Response:
    """Verify a Nango webhook and record the connection change it reports."""
    sylo = current_app.extensions["sylo"]
    keys = [key.get_secret_value() for key in sylo.settings.nango_webhook_keys]
    if not keys:
        raise Problem(503, "webhooks-not-configured", "Webhooks Not Configured",
                      "SYLO_NANGO_WEBHOOK_KEYS is unset, so Nango's webhooks cannot be verified; set it to the "
                      "environment's webhook signing key.")
    body = _read_body()
    _verify(body, keys)
    payload = _parse(body)
    receipt = receive(sylo.appdb, payload, body)
    log.info("nango webhook %s: %s", receipt.outcome, receipt.reason)
    if receipt.outcome == "refused":
        raise Problem(409, "connection-owner-mismatch", "Conflict",
                      f"Refused: the {receipt.reason}. A connection's owner never changes; connect the other "
                      "user's account through their own Connect session.")
    answer = {"outcome": receipt.outcome, "reason": receipt.reason}
    if receipt.event is not None:
        answer["event_id"] = receipt.event.id
    response = current_app.json.response(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


def _read_body() -> bytes:
    """The raw bytes, never more than MAX_BODY of them (chunked bodies included)."""
    try:
        return read_body(MAX_BODY)
    except BodyTooLarge:
        raise Problem(413, "payload-too-large", "Payload Too Large",
                      f"Webhook bodies are limited to {MAX_BODY} bytes.") from None


def _verify(body: bytes, keys: list[str]) -> None:
    signature = request.headers.get(SIGNATURE_HEADER)
    if signature_matches(body, signature, keys):
        return
    reason = "no signature header" if not signature else "the signature matches none of the configured keys"
    log.warning("refused a Nango webhook from %s: %s", request.remote_addr, reason)
    raise Problem(401, "invalid-signature", "Unauthorized",
                  f"Nango webhooks must carry {SIGNATURE_HEADER}, the hex HMAC-SHA256 of the raw body under a "
                  "key in SYLO_NANGO_WEBHOOK_KEYS.", headers={"WWW-Authenticate": CHALLENGE})


def _parse(body: bytes) -> dict:
    try:
        payload = parse_json(body)
    except InvalidJson as invalid:
        raise Problem(400, "invalid-json", "Invalid JSON", f"The body is not JSON Sylo takes: {invalid}.") from None
    error = schema_error(payload)
    if error is not None:
        raise Problem(400, "invalid-webhook", "Not a Nango webhook", f"The body is not a webhook Nango sends ({error}).")
    return payload

