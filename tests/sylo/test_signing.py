"""Standard Webhooks signatures: the spec's known-answer vector, agreement with the reference package,
and clean refusals for every malformed header."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from sylo.commands.signing import SignatureError, check_headers, matches, secret_key, sign

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
          "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
BODY = b'{"test": 2432232314}'
AT = 1614265330


def verify(headers, body=BODY, secrets=(SECRET,), now=AT) -> bool:
    message_id, timestamp, signatures = check_headers(headers, now=now)
    return matches([secret_key(s) for s in secrets], message_id, timestamp, body, signatures)


def test_the_known_answer_vector_verifies_and_signs():
    assert verify(VECTOR)
    assert sign(SECRET, VECTOR["webhook-id"], BODY, datetime.fromtimestamp(AT, timezone.utc)) == VECTOR


def test_any_change_breaks_it():
    assert not verify(VECTOR, body=BODY + b" ")
    assert not verify({**VECTOR, "webhook-id": "msg_other"})
    assert not verify({**VECTOR, "webhook-timestamp": str(AT + 1)}, now=AT)
    assert not verify(VECTOR, secrets=("whsec_" + base64.b64encode(b"x" * 24).decode(),))


def test_any_listed_signature_and_any_secret_verify_during_rotation():
    other = "whsec_" + base64.b64encode(b"n" * 32).decode()
    assert verify({**VECTOR, "webhook-signature": "v1,AAAA v2,zzz " + VECTOR["webhook-signature"]})
    assert verify(VECTOR, secrets=(other, SECRET))


@pytest.mark.parametrize("headers", [
    {}, {**VECTOR, "webhook-id": ""}, {**VECTOR, "webhook-signature": ""}, {**VECTOR, "webhook-timestamp": ""},
    {**VECTOR, "webhook-timestamp": "1614265330.0"}, {**VECTOR, "webhook-timestamp": "-1"},
    {**VECTOR, "webhook-timestamp": "9" * 40}, {**VECTOR, "webhook-id": "msg.with.dots"},
    {**VECTOR, "webhook-signature": "v1"}, {**VECTOR, "webhook-signature": "v1,%%%"},
    {**VECTOR, "webhook-signature": "v1a,abc"}, {**VECTOR, "webhook-signature": ",,,"},
    {**VECTOR, "webhook-timestamp": "²"}, {**VECTOR, "webhook-timestamp": "١٦١٤٢٦٥٣٣٠"},
    {**VECTOR, "webhook-timestamp": "１６１４２６５３３０"}, {**VECTOR, "webhook-id": VECTOR["webhook-id"] + "\n"}])
def test_malformed_headers_are_refused_not_crashed(headers):
    with pytest.raises(SignatureError):
        verify(headers)


@pytest.mark.parametrize(("offset", "ok"), [(-301, False), (-299, True), (299, True), (301, False)])
def test_the_window_is_five_minutes_each_way(offset, ok):
    if ok:
        assert verify(VECTOR, now=AT - offset)
    else:
        with pytest.raises(SignatureError, match="5 minutes"):
            verify(VECTOR, now=AT - offset)


@settings(max_examples=50, deadline=None)
@given(key=st.binary(min_size=24, max_size=64), body=st.text(max_size=300),
       message_id=st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True))
def test_the_reference_package_and_ours_agree(key, body, message_id):
    secret = "whsec_" + base64.b64encode(key).decode()
    at = datetime.now(timezone.utc).replace(microsecond=0)
    signature = Webhook(secret).sign(message_id, at, body)
    headers = {"webhook-id": message_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}
    assert verify(headers, body=body.encode(), secrets=(secret,), now=at.timestamp())
    assert sign(secret, message_id, body.encode(), at) == headers
