"""A minimal client written from `../shared/reference/{nango,providers}.md`, not from the sandbox.

Paging loops, header names and date formats follow the reference so the sandbox tests check the
sandbox against the documents a real client would be built from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx

# Xero's Microsoft JSON dates: `/Date(1776297600000+0000)/`, envelope `/Date(1777034754042)/` (providers.md §3.5).
MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
# A change weight large enough that a batch is (almost) only that kind; the summary says which ran.
DOMINANT = 1_000_000


def proxy_headers(connection_id: str, integration: str, **extra: str) -> dict[str, str]:
    """Headers every proxy call needs (nango.md §4), plus any `Nango-Proxy-*` extras."""
    return {"Connection-Id": connection_id, "Provider-Config-Key": integration, **extra}


def xero_tenant(nango: httpx.Client, connection_id: str) -> str:
    """The tenant Nango's Xero post-connection hook stored in `connection_config` (nango.md §7)."""
    response = nango.get(f"/connections/{connection_id}", params={"provider_config_key": "xero"})
    response.raise_for_status()
    return response.json()["connection_config"]["tenant_id"]


def xero_headers(nango: httpx.Client, connection_id: str, **extra: str) -> dict[str, str]:
    """Proxy headers for a Xero accounting call: tenant and Accept go through `Nango-Proxy-`."""
    return proxy_headers(connection_id, "xero", **{"Nango-Proxy-xero-tenant-id": xero_tenant(nango, connection_id),
                                                   "Nango-Proxy-Accept": "application/json", **extra})


def gmail_pages(nango: httpx.Client, headers: dict, path: str, params: dict | None = None) -> Iterator[dict]:
    """Every page of a Gmail list: `pageToken` in, `nextPageToken` out, absent = last (providers.md §1.2)."""
    params = dict(params or {})
    while True:
        response = nango.get("/proxy" + path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        yield page
        if not page.get("nextPageToken"):
            return
        params["pageToken"] = page["nextPageToken"]


def gmail_list(nango: httpx.Client, headers: dict, path: str, key: str, params: dict | None = None) -> list[dict]:
    """All items of a Gmail list; a missing `key` means no items on that page."""
    return [item for page in gmail_pages(nango, headers, path, params) for item in page.get(key, [])]


def asana_pages(nango: httpx.Client, headers: dict, path: str, params: dict | None = None) -> Iterator[dict]:
    """Every page of an Asana list: pass `next_page.offset` back until `next_page` is null (§2.2)."""
    params = {"limit": 100, **(params or {})}
    while True:
        response = nango.get("/proxy/api/1.0" + path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        yield page
        if not page["next_page"]:
            return
        params["offset"] = page["next_page"]["offset"]


def asana_list(nango: httpx.Client, headers: dict, path: str, params: dict | None = None) -> list[dict]:
    return [item for page in asana_pages(nango, headers, path, params) for item in page["data"]]


def asana_sync_token(nango: httpx.Client, headers: dict, resource: str) -> str:
    """Start an event stream: the first call has no token and answers 412 with a fresh one (§2.3 Events)."""
    response = nango.get("/proxy/api/1.0/events", params={"resource": resource}, headers=headers)
    assert response.status_code == 412, response.text
    return response.json()["sync"]


def asana_events(nango: httpx.Client, headers: dict, resource: str, sync: str) -> tuple[list[dict], str]:
    """Every event after a token: while `has_more`, call again at once with the new token (§2.3 Events)."""
    events: list[dict] = []
    while True:
        response = nango.get("/proxy/api/1.0/events", params={"resource": resource, "sync": sync}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        events += body["data"]
        sync = body["sync"]
        if not body["has_more"]:
            return events, sync


def xero_pages(nango: httpx.Client, headers: dict, resource: str, params: dict | None = None,
               page_size: int = 100) -> Iterator[dict]:
    """Every page of a Xero list: `page` from 1, stop at a page shorter than `pageSize` (§3.3)."""
    page = 1
    while True:
        response = nango.get(f"/proxy/api.xro/2.0/{resource}",
                             params={**(params or {}), "page": page, "pageSize": page_size}, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        yield body
        if len(body[resource]) < page_size:
            return
        page += 1


def xero_list(nango: httpx.Client, headers: dict, resource: str, params: dict | None = None,
              page_size: int = 100) -> list[dict]:
    return [item for body in xero_pages(nango, headers, resource, params, page_size) for item in body[resource]]


def ms_date(value: str) -> int:
    """Epoch milliseconds of a Xero `/Date(ms[+zzzz])/` value."""
    match = MS_DATE.match(value)
    assert match, f"not a Xero JSON date: {value!r}"
    return int(match.group(1))


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def apply_changes(admin: httpx.Client, kind: str, count: int, user_id: str) -> list[str]:
    """Run one change batch dominated by `kind` for one user; return the ids of that kind it touched."""
    response = admin.post("/changes", json={"count": count, "users": [user_id], "weights": {kind: DOMINANT}})
    assert response.status_code == 200, response.text
    return [change["id"] for change in response.json()["changes"][user_id]
            if change["kind"] == kind and change.get("id")]
