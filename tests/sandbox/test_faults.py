"""Injected faults look to a client like the real failures `../shared/reference/` describes."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.sandbox.reference_client import proxy_headers, xero_headers

PATHS = {"gmail": "/proxy/gmail/v1/users/me/profile", "asana": "/proxy/api/1.0/workspaces",
         "xero": "/proxy/api.xro/2.0/Organisation"}
INTEGRATIONS = {"gmail": "google-mail", "asana": "asana", "xero": "xero"}


def always(service: str, kind: str, **extra) -> dict:
    """Fault config: every call to `service` gets `kind`."""
    return {"rates": {service: 1.0}, "kinds": {service: {kind: 1}}, **extra}


def headers_for(running, service: str) -> dict:
    connection_id = running.connection(running.user_ids()[0], INTEGRATIONS[service])
    if service == "xero":
        return xero_headers(running.nango, connection_id)
    return proxy_headers(connection_id, INTEGRATIONS[service])


def call(running, service: str, client: httpx.Client | None = None) -> httpx.Response:
    return (client or running.nango).get(PATHS[service], headers=headers_for(running, service))


def provider_429_body(service: str, response: httpx.Response) -> None:
    """Each provider's own 429 body (providers.md §1.6, §2.6), never Nango's `{"error": {"code": str}}`."""
    if service == "gmail":
        body = response.json()
        assert body["error"]["code"] == 429 and body["error"]["status"] == "RESOURCE_EXHAUSTED"
    elif service == "asana":
        assert response.json()["errors"][0]["message"]
    else:  # Xero's 429 body is UNVERIFIED (§3.6): only check it is not Nango's envelope
        assert b"too_many_request" not in response.content


def test_rate_limit_zero_is_a_provider_429_with_retry_after_0(make_sandbox):
    running = make_sandbox(users=1, faults=always("gmail", "rate_limit_zero"))
    response = call(running, "gmail")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "0"
    provider_429_body("gmail", response)
    assert call(running, "asana").status_code == 200, "faults hit only the configured service"


@pytest.mark.parametrize("service", ["gmail", "asana", "xero"])
def test_rate_limit_is_the_providers_429(make_sandbox, service):
    running = make_sandbox(users=1, faults=always(service, "rate_limit", retry_after=7))
    response = call(running, service)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    if service == "xero":
        assert response.headers["X-Rate-Limit-Problem"] in ("minute", "day")
    provider_429_body(service, response)


def test_nango_rate_limit_fault_is_nangos_429(make_sandbox):
    running = make_sandbox(users=1, faults=always("asana", "nango_rate_limit"))
    response = call(running, "asana")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "too_many_request"
    assert int(response.headers["Retry-After"]) >= 0


@pytest.mark.parametrize("service", ["gmail", "asana", "xero"])
def test_server_error_is_5xx(make_sandbox, service):
    running = make_sandbox(users=1, faults=always(service, "server_error"))
    assert call(running, service).status_code >= 500


@pytest.mark.parametrize("kind", ["server_error", "rate_limit"])
def test_nango_retries_5xx_and_429_only_when_asked(make_sandbox, kind):
    running = make_sandbox(users=1, faults={"scripted": [{"service": "gmail", "kind": kind,
                                                          "path": "/profile", "times": 2}]})
    headers = headers_for(running, "gmail")
    assert running.nango.get(PATHS["gmail"], headers=headers).status_code in (429, 500, 502, 503)  # Retries: 0
    assert running.nango.get(PATHS["gmail"], headers={**headers, "Retries": "1"}).status_code == 200


def test_reset_is_a_connection_error(make_sandbox):
    running = make_sandbox(users=1, faults=always("asana", "reset"))
    with pytest.raises((httpx.RemoteProtocolError, httpx.ConnectError, httpx.ReadError)):
        call(running, "asana")
    assert running.nango.get("/connections").status_code == 200, "the sandbox keeps serving"


def test_timeout_hangs_past_the_clients_read_timeout(make_sandbox):
    running = make_sandbox(users=1, faults=always("gmail", "timeout", timeout_seconds=2))
    with httpx.Client(base_url=running.url, headers=running.nango.headers, timeout=httpx.Timeout(5, read=0.5)) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            call(running, "gmail", impatient)


def test_scripted_malformed_json_hits_only_the_next_matching_call(make_sandbox):
    running = make_sandbox(users=1, faults={"scripted": [{"service": "xero", "kind": "malformed_json",
                                                          "path": "/Invoices", "times": 1}]})
    headers = headers_for(running, "xero")
    assert running.nango.get("/proxy/api.xro/2.0/Contacts", headers=headers).json()["Contacts"]
    broken = running.nango.get("/proxy/api.xro/2.0/Invoices?page=1", headers=headers)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert running.nango.get("/proxy/api.xro/2.0/Invoices?page=1", headers=headers).json()["Invoices"]
