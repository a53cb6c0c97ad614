"""Xero: `If-Modified-Since` with the tenant header, oldest change first (reference/providers.md §3).

Pages are read in `UpdatedDateUTC ASC` order, so the cursor committed with each page (the newest
UpdatedDateUTC so far) lets a crashed sync resume without skipping anything. Statuses carry the
deletions: DELETED/VOIDED invoices and ARCHIVED contacts become tombstones (rows kept). Some
edits never bump UpdatedDateUTC, so a periodic full refresh re-reads everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from sylo.nango.client import ProviderError
from pipelines.sync.engine import BadData, SyncContext
from pipelines.warehouse import Batch, StreamState, row_hash

PAGE_SIZE = 1000  # Xero's largest page (reference/providers.md: pageSize 1..1000); one request where ten were
MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
DELETED_INVOICE = {"DELETED", "VOIDED"}
DELETED_CONTACT = {"ARCHIVED", "GDPRREQUEST"}


def parse_xero_datetime(value: object) -> object:
    """`/Date(1776297600000+0000)/` (or ISO, which some responses use) to an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a Xero date string, got {type(value).__name__}")
    match = MS_DATE.match(value)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a Xero date: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


XeroTime = Annotated[datetime, BeforeValidator(parse_xero_datetime)]


def _money(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("expected a number")
    return value


Money = Annotated[Decimal, BeforeValidator(_money)]


class ContactRef(BaseModel):
    ContactID: str | None = None
    Name: str | None = None


class XeroContact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    ContactID: str
    Name: str
    FirstName: str | None = None
    LastName: str | None = None
    EmailAddress: str | None = None
    ContactStatus: str
    IsCustomer: bool | None = None
    IsSupplier: bool | None = None
    UpdatedDateUTC: XeroTime


class XeroInvoice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    InvoiceID: str
    InvoiceNumber: str | None = None
    Type: str
    Status: str
    Contact: ContactRef | None = None
    Reference: str | None = None
    Date: XeroTime | None = None
    DueDate: XeroTime | None = None
    CurrencyCode: str | None = None
    SubTotal: Money | None = None
    TotalTax: Money | None = None
    Total: Money | None = None
    AmountDue: Money | None = None
    AmountPaid: Money | None = None
    AmountCredited: Money | None = None
    FullyPaidOnDate: XeroTime | None = None
    SentToContact: bool | None = None
    UpdatedDateUTC: XeroTime


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


def contact_row(user_id: str, c: XeroContact, now: datetime) -> dict:
    email = (c.EmailAddress or "").strip().lower() or None
    row = {"user_id": user_id, "id": c.ContactID.lower(), "name": c.Name, "first_name": c.FirstName,
           "last_name": c.LastName, "email": email, "email_domain": email.split("@")[-1] if email and "@" in email else None,
           "status": c.ContactStatus, "is_customer": c.IsCustomer, "is_supplier": c.IsSupplier,
           "updated_at": c.UpdatedDateUTC}
    return {**row, "_hash": row_hash(row), "_synced_at": now,
            "_deleted_at": c.UpdatedDateUTC if c.ContactStatus in DELETED_CONTACT else None}


def invoice_row(user_id: str, i: XeroInvoice, now: datetime) -> dict:
    row = {"user_id": user_id, "id": i.InvoiceID.lower(), "invoice_number": i.InvoiceNumber, "type": i.Type,
           "status": i.Status, "contact_id": (i.Contact.ContactID or "").lower() or None if i.Contact else None,
           "contact_name": i.Contact.Name if i.Contact else None, "reference": i.Reference,
           "issued_on": _day(i.Date), "due_on": _day(i.DueDate), "currency": i.CurrencyCode,
           "subtotal": i.SubTotal, "total_tax": i.TotalTax, "total": i.Total, "amount_due": i.AmountDue,
           "amount_paid": i.AmountPaid, "amount_credited": i.AmountCredited, "fully_paid_on": _day(i.FullyPaidOnDate),
           "sent_to_contact": i.SentToContact, "updated_at": i.UpdatedDateUTC}
    return {**row, "_hash": row_hash(row), "_synced_at": now,
            "_deleted_at": i.UpdatedDateUTC if i.Status in DELETED_INVOICE else None}


STREAMS = (
    # stream, path, response key, model, row builder, table, extra params
    ("xero.contacts", "api.xro/2.0/Contacts", "Contacts", XeroContact, contact_row, "xero_contacts",
     {"includeArchived": "true"}),
    ("xero.invoices", "api.xro/2.0/Invoices", "Invoices", XeroInvoice, invoice_row, "xero_invoices", {}),
)


class XeroSource:
    service = "xero"
    streams = tuple(s[0] for s in STREAMS)

    def cursor_summary(self, ctx: SyncContext) -> str:
        return " ".join(f"{name.split('.')[1]}:{(ctx.stream(name).cursor or {}).get('updated_since', '-')}"
                        for name in self.streams)

    def batches(self, ctx: SyncContext) -> Iterator[Batch]:
        tenant = self._tenant(ctx)
        for stream, path, key, model, build, table, extra in STREAMS:
            yield from self._stream(ctx, ctx.stream(stream), tenant, path, key, model, build, table, extra)

    def _stream(self, ctx: SyncContext, state: StreamState, tenant: str, path: str, key: str, model, build,
                table: str, extra: dict) -> Iterator[Batch]:
        cursor = dict(state.cursor or {})
        full = cursor.get("full") or state.last_full_sync_at is None or (
            ctx.now() - state.last_full_sync_at >= ctx.settings.xero_full_refresh_every)
        since = cursor.get("updated_since") if (not full or cursor.get("full")) else None
        high = since
        page = 1
        while True:
            headers = {"xero-tenant-id": tenant, "Accept": "application/json"}
            if since:
                ims = datetime.fromisoformat(since) - ctx.settings.overlap
                headers["If-Modified-Since"] = ims.strftime("%Y-%m-%dT%H:%M:%S")
            params = {"page": page, "pageSize": PAGE_SIZE, "order": "UpdatedDateUTC ASC", **extra}
            body = ctx.get(path, params, headers)
            records = ctx.parse_list(model, body, key, where=f"{path} page {page}", key=model.__name__[4:] + "ID")
            now = ctx.now()
            stamps = [r.UpdatedDateUTC for r in records] + ([datetime.fromisoformat(high)] if high else [])
            high = max(stamps).isoformat() if stamps else high
            more = len(records) >= PAGE_SIZE
            state.cursor = {"updated_since": high, "full": bool(full and more), "tenant_id": tenant}
            if full and not more:
                state.last_full_sync_at = now
            yield Batch(rows={table: [build(ctx.user_id, r, now) for r in records]}, states=[state])
            if not more:
                return
            page += 1

    def _tenant(self, ctx: SyncContext) -> str:
        """The tenant Nango's post-connection hook stored, else Xero's own /connections list."""
        for name in self.streams:
            tenant = (ctx.stream(name).cursor or {}).get("tenant_id")
            if tenant:
                return tenant
        detail = ctx.client.get_connection(ctx.connection.connection_id, ctx.connection.integration)
        tenant = (detail.get("connection_config") or {}).get("tenant_id") or (detail.get("metadata") or {}).get("tenantId")
        if tenant:
            return tenant
        try:
            tenants = ctx.get("connections")
        except ProviderError as exc:
            raise BadData(f"xero: cannot find the tenant for user {ctx.user_id}: {exc}") from exc
        if not isinstance(tenants, list) or not tenants or not tenants[0].get("tenantId"):
            raise BadData(f"xero: the connection of user {ctx.user_id} has no organisation (tenant)")
        return tenants[0]["tenantId"]
