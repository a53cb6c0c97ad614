"""Nango's HTTP API through one pooled httpx client per process (reference/nango.md).

Every failure becomes a typed exception carrying the message a person can act on: Nango's own
errors (bad key, unknown connection, revoked credentials, Nango's 429) are told apart from the
provider's answers passed through the proxy (by body shape, as Nango documents).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import Any

import httpx

CONNECT_TIMEOUT_S = 5.0


class NangoError(Exception):
    """Anything that went wrong talking to Nango or, through it, to a provider."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class NangoAuthError(NangoError):
    """Nango refused our secret key: check SYLO_NANGO_SECRET_KEY."""


class NangoRateLimited(NangoError):
    """Nango's own account limit (`too_many_request`), not the provider's."""

    retryable = True

    def __init__(self, message: str, retry_after: float | None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ConnectionNotFound(NangoError):
    """The connection does not exist (deleted in Nango, or the wrong environment's key)."""


class CredentialsError(NangoError):
    """Nango cannot refresh the provider token: the user must reconnect the service."""


class ProviderError(NangoError):
    """The provider answered with an error, passed through Nango unchanged."""

    def __init__(self, message: str, *, status: int, headers: httpx.Headers | None = None, body: str = ""):
        super().__init__(message, status=status)
        self.headers = headers or httpx.Headers()
        self.body = body


class ProviderRateLimited(ProviderError):
    retryable = True

    @property
    def retry_after(self) -> float | None:
        return _seconds(self.headers.get("Retry-After"))

    @property
    def problem(self) -> str:
        """Xero names the limit it hit (`minute`, `day`, `concurrent`, ...)."""
        return self.headers.get("X-Rate-Limit-Problem", "").lower()


class ProviderServerError(ProviderError):
    retryable = True


class UpstreamUnreachable(NangoError):
    """Nango could not reach the provider (its 500 with a network error code, no envelope)."""

    retryable = True


class TransportError(NangoError):
    """We could not reach Nango, or the connection dropped or timed out."""

    retryable = True


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def provider_message(body: Any, text: str) -> str:
    """Pull the human message out of Gmail's, Asana's or Xero's error shapes."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])  # Google
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message", ""))  # Asana
        for key in ("Detail", "Message", "Title", "detail", "title", "message"):
            if body.get(key):
                return str(body[key])  # Xero
    return text.strip()[:300] or "(empty body)"


def classify(response: httpx.Response) -> NangoError:
    """Turn an error response from Nango's API or proxy into the right exception."""
    text = response.text
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    envelope = body.get("error") if isinstance(body, dict) else None
    if isinstance(envelope, dict) and isinstance(envelope.get("code"), str):
        return _nango_error(status, envelope, response.headers)
    if status == 500 and isinstance(body, dict) and str(body.get("code", "")).startswith("E") and "message" in body:
        return UpstreamUnreachable(f"Nango could not reach the provider: {body['message']} ({body['code']})",
                                   status=status, code=body["code"])
    message = provider_message(body, text)
    if status == 429 or (status == 403 and _google_quota(body)):
        return ProviderRateLimited(f"rate limited by the provider: {message}", status=status,
                                   headers=response.headers, body=text)
    if status >= 500:
        return ProviderServerError(f"provider error {status}: {message}", status=status, headers=response.headers,
                                   body=text)
    return ProviderError(f"provider refused the request ({status}): {message}", status=status,
                         headers=response.headers, body=text)


def _google_quota(body: Any) -> bool:
    errors = body.get("error", {}).get("errors", []) if isinstance(body, dict) and isinstance(body.get("error"), dict) else []
    return any(isinstance(e, dict) and e.get("domain") == "usageLimits" for e in errors)


def _nango_error(status: int, envelope: dict, headers: httpx.Headers) -> NangoError:
    code = envelope["code"]
    message = envelope.get("message") or code
    if code == "too_many_request":
        return NangoRateLimited(f"Nango's API rate limit was reached ({envelope.get('path', '')})",
                                _seconds(headers.get("Retry-After")), status=status, code=code)
    if status == 401:
        return NangoAuthError(f"Nango rejected the secret key ({code}): check SYLO_NANGO_SECRET_KEY",
                              status=status, code=code)
    if code in ("invalid_credentials", "connection_refresh_backoff") or "credentials" in message:
        return CredentialsError(f"Nango cannot refresh this connection's token ({message}): reconnect the service",
                                status=status, code=code)
    if code in ("not_found", "unknown_connection") or message == "Failed to get connection":
        return ConnectionNotFound(f"Nango has no such connection ({message})", status=status, code=code)
    return NangoError(f"Nango error {status} {code}: {message}", status=status, code=code)


@dataclass(frozen=True)
class Connection:
    connection_id: str
    integration: str
    tags: dict[str, str]
    created: str
    errors: tuple[dict, ...] = ()

    @property
    def end_user_id(self) -> str | None:
        return self.tags.get("end_user_id")

    @property
    def needs_reauth(self) -> bool:
        return any(e.get("type") == "auth" for e in self.errors)


class NangoClient:
    """Talks to Nango's API. Thread-safe; share one per process (see `shared`)."""

    _shared: dict[tuple, "NangoClient"] = {}
    _shared_lock = threading.Lock()

    def __init__(self, base_url: str, secret_key: str, *, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None, max_connections: int = 16):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {secret_key}", "User-Agent": "sylo/0.1"},
            # Read timeout long enough for Nango's own upstream retries and token refreshes.
            timeout=httpx.Timeout(timeout, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            transport=transport,
        )

    @classmethod
    def shared(cls, base_url: str, secret_key: str, timeout: float = 60.0) -> "NangoClient":
        """One pooled client per process (and per pid, so forked workers don't share sockets)."""
        key = (os.getpid(), base_url, secret_key, timeout)
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(base_url, secret_key, timeout=timeout)
            return cls._shared[key]

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            raise TransportError(f"timed out talking to Nango ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransportError(f"connection to Nango failed ({type(exc).__name__}: {exc})") from exc
        if response.status_code >= 400:
            raise classify(response)
        return response

    # -- connect sessions and connections -------------------------------------------------------

    def create_connect_session(self, tags: dict[str, str], integrations: list[str] | None = None) -> dict:
        body: dict[str, Any] = {"tags": tags}
        if integrations:
            body["allowed_integrations"] = integrations
        return self._send("POST", "/connect/sessions", json=body).json()["data"]

    def create_reconnect_session(self, connection_id: str, integration: str, tags: dict[str, str]) -> dict:
        body = {"connection_id": connection_id, "integration_id": integration, "tags": tags}
        return self._send("POST", "/connect/sessions/reconnect", json=body).json()["data"]

    def list_connections(self, tags: dict[str, str] | None = None, page_size: int = 1000) -> list[Connection]:
        """Every connection matching the tags; Nango has no cursor, so page until a short page."""
        params: dict[str, Any] = {f"tags[{k}]": v for k, v in (tags or {}).items()}
        found: list[Connection] = []
        page = 0
        while True:
            items = self._send("GET", "/connections", params={**params, "limit": page_size, "page": page}).json()["connections"]
            found += [Connection(i["connection_id"], i["provider_config_key"], i.get("tags") or {}, i.get("created", ""),
                                 tuple(i.get("errors") or ())) for i in items]
            if len(items) < page_size:
                return found
            page += 1

    def get_connection(self, connection_id: str, integration: str) -> dict:
        return self._send("GET", f"/connections/{connection_id}", params={"provider_config_key": integration}).json()

    def delete_connection(self, connection_id: str, integration: str) -> None:
        self._send("DELETE", f"/connections/{connection_id}", params={"provider_config_key": integration})

    # -- proxy ------------------------------------------------------------------------------------

    def proxy(self, method: str, path: str, *, connection_id: str, integration: str,
              params: Any = None, headers: dict[str, str] | None = None, json_body: Any = None) -> httpx.Response:
        """One proxied call. `headers` are the provider's: they are sent as `Nango-Proxy-<name>`."""
        sent = {"Connection-Id": connection_id, "Provider-Config-Key": integration}
        sent.update({f"Nango-Proxy-{name}": value for name, value in (headers or {}).items()})
        content = None
        if json_body is not None:
            content = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        return self._send(method, "/proxy/" + path.lstrip("/"), params=params, headers=sent, content=content)
