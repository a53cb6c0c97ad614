"""Xero Accounting API 2.0 behind the proxy, per reference/providers.md §3.

Requires `xero-tenant-id` (403 problem-details otherwise); `If-Modified-Since` to the second,
inclusive; `page`/`pageSize` with a `pagination` block; `order`, `Statuses`, `IDs`, `ContactIDs`,
`includeArchived` and a small `where` subset; limits per tenant with `X-Rate-Limit-Problem`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule

from sandbox.http import Reply, Upstream
from sandbox.ids import det_uuid
from sandbox.stores.xero import Organisation, day_ms

ROUTES = Map([
    Rule("/connections", endpoint="connections"),
    Rule("/api.xro/2.0/Organisation", endpoint="organisation"),
    Rule("/api.xro/2.0/Contacts", endpoint="contacts"),
    Rule("/api.xro/2.0/Contacts/<record_id>", endpoint="contact"),
    Rule("/api.xro/2.0/Invoices", endpoint="invoices"),
    Rule("/api.xro/2.0/Invoices/<record_id>", endpoint="invoice"),
    Rule("/api.xro/2.0/Payments", endpoint="payments"),
], strict_slashes=False)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
WHERE_TERM = re.compile(
    r'\s*(?P<field>[A-Za-z.]+)\s*(?P<op>==|=|!=|>=|<=|>|<)\s*'
    r'(?P<value>"[^"]*"|DateTime\(\s*\d{4}\s*,\s*\d{1,2}\s*,\s*\d{1,2}\s*\)|GUID\("[^"]+"\)|-?\d+(?:\.\d+)?|true|false)\s*',
    re.IGNORECASE,
)


class XeroError(Exception):
    def __init__(self, reply: Reply):
        self.reply = reply


def problem(status: int, title: str, detail: str) -> Reply:
    return Reply(status, {"Type": None, "Title": title, "Status": status, "Detail": detail,
                          "Instance": det_uuid("xero-problem", status, detail), "Extensions": {}})


def validation(message: str, kind: str = "ValidationException") -> XeroError:
    return XeroError(Reply(400, {"ErrorNumber": 10 if kind == "ValidationException" else 17, "Type": kind,
                                 "Message": message}))


def rate_limited(seconds: int, problem_kind: str = "minute") -> Reply:
    return Reply(429, raw=b"", headers={"Retry-After": str(seconds), "X-Rate-Limit-Problem": problem_kind,
                                        "Content-Type": "text/plain"})


def server_error() -> Reply:
    return Reply(503, raw=b"The service is temporarily unavailable", headers={"Content-Type": "text/plain"})


def dispatch(up: Upstream) -> Reply:
    try:
        endpoint, values = ROUTES.bind("api.xero.com").match(up.path, method=up.method)
    except (NotFound, MethodNotAllowed):
        return Reply(404, raw=b"The resource you're looking for cannot be found", headers={"Content-Type": "text/plain"})
    org = up.account.org
    if endpoint != "connections":
        if up.headers.get("xero-tenant-id", "").lower() != org.tenant_id:
            return problem(403, "Forbidden", "AuthenticationUnsuccessful")
        verdict = up.limits.xero(org.tenant_id)
        if verdict.retry_after is not None:
            reply = rate_limited(max(1, verdict.seconds), verdict.problem)
            reply.headers.update(up.limits.xero_headers(org.tenant_id))
            return reply
    with up.limits.concurrency.slot(f"xero:{org.tenant_id}", up.limits.config.xero_concurrent) as ok:
        if not ok and up.limits.config.enabled:
            return rate_limited(1, "concurrent")
        try:
            with up.account.lock:
                reply = HANDLERS[endpoint](up, org, **values)
        except XeroError as exc:
            reply = exc.reply
    if endpoint != "connections":
        reply.headers.update(up.limits.xero_headers(org.tenant_id))
    return reply


# -- parameters ------------------------------------------------------------------------------------


def _arg(up: Upstream, name: str) -> str | None:
    """Xero's query parameters are case-insensitive."""
    lowered = name.lower()
    return next((v for k, v in up.args.items() if k.lower() == lowered), None)


def if_modified_since(up: Upstream) -> int | None:
    """Parse If-Modified-Since (ISO with or without zone, or an HTTP date); RFC 9110 says ignore junk."""
    raw = up.headers.get("If-Modified-Since")
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return int(parsed.timestamp()) * 1000  # accurate to the second


def _csv(up: Upstream, name: str) -> set[str] | None:
    raw = _arg(up, name)
    return {part.strip() for part in raw.split(",") if part.strip()} if raw else None


def _where(up: Upstream):
    raw = _arg(up, "where")
    if not raw:
        return lambda record: True
    terms = []
    for part in re.split(r"\s+(?:AND|&&)\s+", raw.strip(), flags=re.IGNORECASE):
        match = WHERE_TERM.fullmatch(part)
        if not match:
            raise validation(f"The where clause could not be parsed: {part}")
        terms.append((match["field"], match["op"], _literal(match["value"])))

    def keep(record: dict) -> bool:
        return all(_compare(_lookup(record, f), op, v) for f, op, v in terms)

    return keep


def _literal(text: str):
    if text.startswith('"'):
        return text[1:-1]
    if text.lower().startswith("datetime("):
        y, m, d = (int(x) for x in re.findall(r"\d+", text))
        return f"/Date({day_ms(datetime(y, m, d).date())}+0000)/"
    if text.lower().startswith("guid("):
        return text[6:-2].lower()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return float(text)


def _lookup(record: dict, dotted: str):
    value = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value.lower() if isinstance(value, str) and re.fullmatch(r"[0-9a-f-]{36}", value.lower()) else value


def _date_ms(value):
    if isinstance(value, str) and value.startswith("/Date("):
        return int(re.match(r"/Date\((-?\d+)", value).group(1))
    return value


def _compare(left, op: str, right) -> bool:
    left, right = _date_ms(left), _date_ms(right)
    if left is None:
        return op == "!="
    try:
        return {"==": left == right, "=": left == right, "!=": left != right, ">": left > right,
                ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    except TypeError:
        raise validation(f"Cannot compare {left!r} with {right!r}") from None


def _order(up: Upstream, records: list[dict]) -> list[dict]:
    raw = _arg(up, "order")
    if not raw:
        return records
    field, _, direction = raw.strip().partition(" ")
    if not records or field not in records[0]:
        if records:
            raise validation(f"Order by field '{field}' is not supported")
        return records
    return sorted(records, key=lambda r: (_date_ms(r.get(field)) is None, _date_ms(r.get(field)) or 0,
                                          r.get(field) if isinstance(r.get(field), str) else ""),
                  reverse=direction.strip().upper() == "DESC")


def envelope(up: Upstream, key: str, records: list[dict], pagination: dict | None = None) -> Reply:
    body = {"Id": det_uuid("xero-response", up.account.user_id, up.path, up.clock_ms, len(records)),
            "Status": "OK", "ProviderName": "Sylo Sandbox", "DateTimeUTC": f"/Date({up.clock_ms})/"}
    if pagination is not None:
        body["pagination"] = pagination
    body[key] = records
    return Reply(200, body)


def paged_list(up: Upstream, key: str, rows: list, render, modified_ms) -> Reply:
    """Filter by If-Modified-Since, `where` and `order`, then page (or refuse a huge unpaged read)."""
    since = if_modified_since(up)
    if since is not None:
        rows = [row for row in rows if modified_ms(row) // 1000 * 1000 >= since]
    page_raw, size_raw = _arg(up, "page"), _arg(up, "pageSize")
    paged = page_raw is not None
    records = [render(row, paged) for row in rows]
    records = _order(up, [r for r in records if _where(up)(r)])
    if not paged:
        if key == "Invoices" and len(records) > DEFAULT_PAGE_SIZE:
            raise validation("Your request is not filtering Invoices efficiently. Please use paging.",
                             "HighVolumeException")
        return envelope(up, key, records)
    if not re.fullmatch(r"[0-9]+", page_raw) or int(page_raw) < 1:
        raise validation("page must be a positive integer")
    page, size = int(page_raw), _page_size(size_raw)
    chunk = records[(page - 1) * size:page * size]
    pagination = {"page": page, "pageSize": size, "pageCount": -(-len(records) // size), "itemCount": len(records)}
    return envelope(up, key, chunk, pagination)


def _page_size(raw: str | None) -> int:
    """`pageSize` 1..1000, 100 when absent (Xero's paging change of July 2024; providers.md §3.3)."""
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not re.fullmatch(r"[0-9]+", raw) or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise validation(f"pageSize must be an integer from 1 to {MAX_PAGE_SIZE}")
    return int(raw)


# -- endpoints ---------------------------------------------------------------------------------------


def connections(up: Upstream, org: Organisation) -> Reply:
    created = datetime.fromtimestamp(org.created_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0")
    return Reply(200, [{"id": det_uuid("xero-connection", up.connection.connection_id),
                        "authEventId": det_uuid("xero-auth-event", up.connection.connection_id),
                        "tenantId": org.tenant_id, "tenantType": "ORGANISATION", "tenantName": org.name,
                        "createdDateUtc": created, "updatedDateUtc": created}])


def organisation(up: Upstream, org: Organisation) -> Reply:
    return envelope(up, "Organisations", [org.organisation_json()])


def contacts(up: Upstream, org: Organisation) -> Reply:
    include_archived = (_arg(up, "includeArchived") or "").lower() == "true"
    ids = {i.lower() for i in _csv(up, "IDs") or ()}
    rows = [c for c in org.contacts.values()
            if (include_archived or c.status != "ARCHIVED") and (not ids or c.id in ids)]
    return paged_list(up, "Contacts", rows, lambda c, _paged: org.contact_json(c), lambda c: c.updated_ms)


def contact(up: Upstream, org: Organisation, record_id: str) -> Reply:
    found = org.contacts.get(record_id.lower())
    if found is None:
        raise XeroError(Reply(404, raw=b"The resource you're looking for cannot be found",
                              headers={"Content-Type": "text/plain"}))
    return envelope(up, "Contacts", [org.contact_json(found)])


def invoices(up: Upstream, org: Organisation) -> Reply:
    statuses, ids = _csv(up, "Statuses"), {i.lower() for i in _csv(up, "IDs") or ()}
    contact_ids = {i.lower() for i in _csv(up, "ContactIDs") or ()}
    numbers = _csv(up, "InvoiceNumbers")
    rows = [i for i in org.invoices.values()
            if (not statuses or i.status in statuses) and (not ids or i.id in ids)
            and (not contact_ids or i.contact_id in contact_ids) and (not numbers or i.number in numbers)]
    return paged_list(up, "Invoices", rows, lambda i, paged: org.invoice_json(i, with_lines=paged),
                      lambda i: i.updated_ms)


def invoice(up: Upstream, org: Organisation, record_id: str) -> Reply:
    found = org.invoices.get(record_id.lower()) or next(
        (i for i in org.invoices.values() if i.number == record_id), None)
    if found is None:
        raise XeroError(Reply(404, raw=b"The resource you're looking for cannot be found",
                              headers={"Content-Type": "text/plain"}))
    return envelope(up, "Invoices", [org.invoice_json(found)])


def payments(up: Upstream, org: Organisation) -> Reply:
    return paged_list(up, "Payments", list(org.payments.values()), lambda p, _paged: org.payment_json(p),
                      lambda p: p.updated_ms)


HANDLERS = {"connections": connections, "organisation": organisation, "contacts": contacts, "contact": contact,
            "invoices": invoices, "invoice": invoice, "payments": payments}


def corrupt(data) -> object:
    if isinstance(data, dict):
        for key in ("Invoices", "Contacts", "Payments"):
            if data.get(key):
                record = data[key][0]  # keeps its id, so a client can name the broken record
                record["UpdatedDateUTC"] = "/Date(not-a-date)/"
                if "AmountDue" in record:
                    record["AmountDue"] = "lots"
    return data


def cursor_expires(up: Upstream) -> bool:
    return False  # Xero's If-Modified-Since never expires


def expired_cursor(up: Upstream) -> Reply:
    raise AssertionError("Xero has no expiring cursor")
