"""The sandbox's Xero, reached through the Nango proxy, against `../shared/reference/providers.md` §3."""

from __future__ import annotations

import math
import re
import uuid
from datetime import timedelta, timezone

import pytest

from tests.sandbox.reference_client import (apply_changes, ms_date, proxy_headers, utc, xero_headers, xero_list,
                                            xero_pages, xero_tenant)

API = "/proxy/api.xro/2.0"
RECORD_DATE = re.compile(r"^/Date\(-?\d+\+0000\)/$")
ENVELOPE_DATE = re.compile(r"^/Date\(\d+\)/$")


class Org:
    """One end user's Xero organisation as a client sees it."""

    def __init__(self, running, index: int = 0):
        self.running = running
        self.nango = running.nango
        self.user = sorted(running.user_ids())[index]
        self.connection_id = running.connection(self.user, "xero")
        self.headers = xero_headers(self.nango, self.connection_id)

    def truth(self) -> dict:
        return self.running.admin.get(f"/users/{self.user}/truth").json()["xero"]

    def get(self, path: str, headers: dict | None = None, **params):
        return self.nango.get(API + path, params=params, headers={**self.headers, **(headers or {})})

    def list(self, resource: str, since: str | None = None, page_size: int = 100, **params) -> list[dict]:
        headers = {**self.headers, "Nango-Proxy-If-Modified-Since": since} if since else self.headers
        return xero_list(self.nango, headers, resource, params, page_size)

    def change(self, kind: str, count: int = 3) -> list[str]:
        return apply_changes(self.running.admin, kind, count, self.user)

    def clock_iso(self) -> str:
        """The world clock as Xero's If-Modified-Since wants it: UTC to the second, no zone."""
        return utc(self.running.admin.get("").json()["clock"]).strftime("%Y-%m-%dT%H:%M:%S")


def updated(record: dict) -> int:
    return ms_date(record["UpdatedDateUTC"])


def assert_problem(response, status: int) -> None:
    """Xero's identity-gateway problem details (§3.7): PascalCase Title/Status/Detail."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["Title"] == "Forbidden" and body["Status"] == status and body["Detail"]
    assert {"Type", "Instance", "Extensions"} <= set(body)


@pytest.fixture(scope="module")
def shared(module_sandbox):
    """Read-only tests share one org; they make more calls than Xero's 60 a minute, so lift that limit here."""
    return Org(module_sandbox(users=2, limits={"xero_per_minute": 600}))


@pytest.fixture
def org(make_sandbox):
    return Org(make_sandbox(users=1))


# -- tenancy (§3.1) ------------------------------------------------------------------------------

def test_accounting_calls_need_the_tenant_header(shared):
    no_tenant = proxy_headers(shared.connection_id, "xero", **{"Nango-Proxy-Accept": "application/json"})
    for path in ("/Invoices", "/Organisation", "/Contacts"):
        assert_problem(shared.nango.get(API + path, headers=no_tenant), 403)
    assert shared.get("/Invoices", page=1).status_code == 200


def test_unknown_or_foreign_tenant_is_403(shared):
    other = Org(shared.running, index=1)
    for tenant in (str(uuid.uuid4()), xero_tenant(shared.nango, other.connection_id)):
        assert_problem(shared.get("/Organisation", headers={"Nango-Proxy-xero-tenant-id": tenant}), 403)


def test_connections_lists_the_tenant_without_a_tenant_header(shared):
    response = shared.nango.get("/proxy/connections", headers=proxy_headers(shared.connection_id, "xero"))
    assert response.status_code == 200
    tenants = response.json()
    assert [t["tenantId"] for t in tenants] == [shared.truth()["tenant_id"]]
    assert {"id", "authEventId", "tenantId", "tenantType", "tenantName", "createdDateUtc", "updatedDateUtc"} <= set(tenants[0])
    assert tenants[0]["tenantType"] == "ORGANISATION"


# -- envelope, pagination, dates (§3.2, §3.3, §3.5) ---------------------------------------------

def test_envelope_fields(shared):
    body = shared.get("/Organisation").json()
    assert uuid.UUID(body["Id"]) and body["Status"] == "OK" and isinstance(body["ProviderName"], str)
    assert ENVELOPE_DATE.match(body["DateTimeUTC"])
    assert len(body["Organisations"]) == 1
    assert {"OrganisationID", "Name", "BaseCurrency"} <= set(body["Organisations"][0])


def test_pagination_block_counts_every_invoice(shared):
    truth = shared.truth()
    pages = list(xero_pages(shared.nango, shared.headers, "Invoices", page_size=10))
    listed = [i for page in pages for i in page["Invoices"]]
    item_count = len(truth["invoices"])
    for number, page in enumerate(pages, start=1):
        assert page["pagination"] == {"page": number, "pageSize": 10, "pageCount": math.ceil(item_count / 10),
                                      "itemCount": item_count}
        assert ENVELOPE_DATE.match(page["DateTimeUTC"]) and page["Status"] == "OK"
    assert all(len(p["Invoices"]) == 10 for p in pages[:-1]) and len(pages[-1]["Invoices"]) < 10
    assert len(listed) == len({i["InvoiceID"] for i in listed})
    assert all(isinstance(i["LineItems"], list) for i in listed) and any(i["LineItems"] for i in listed)
    assert {i["InvoiceID"] for i in listed} == {i["InvoiceID"] for i in truth["invoices"]}


def test_default_page_size_is_100(shared):
    body = shared.get("/Invoices", page=1).json()
    assert body["pagination"]["pageSize"] == 100
    assert len(body["Invoices"]) == min(100, len(shared.truth()["invoices"]))


@pytest.mark.parametrize(("resource", "key"), [("Contacts", "ContactID"), ("Payments", "PaymentID")])
def test_other_lists_page_completely(shared, resource, key):
    truth = shared.truth()[resource.lower()]
    expected = {r[key] for r in truth if r.get("ContactStatus") != "ARCHIVED"}
    listed = shared.list(resource, page_size=5)
    first = shared.get(f"/{resource}", page=1, pageSize=5).json()
    assert first["pagination"] == {"page": 1, "pageSize": 5, "pageCount": math.ceil(len(expected) / 5),
                                   "itemCount": len(expected)}
    assert {r[key] for r in listed} == expected
    assert len(listed) == len(expected)


@pytest.mark.parametrize("page_size", [1, 7, 1000])
@pytest.mark.parametrize(("resource", "key", "params"), [("Contacts", "ContactID", {"includeArchived": "true"}),
                                                         ("Invoices", "InvoiceID", {})])
def test_page_size_from_1_to_1000_pages_completely_in_order(shared, page_size, resource, key, params):
    """`pageSize` 1..1000 (Xero's 2024 paging change, providers.md §3.3) with `order` and the pagination block."""
    truth = shared.truth()[resource.lower()]
    pages = list(xero_pages(shared.nango, shared.headers, resource, {**params, "order": "UpdatedDateUTC ASC"},
                            page_size=page_size))
    listed = [r for page in pages for r in page[resource]]
    assert [r[key] for r in listed] == [r[key] for r in sorted(listed, key=updated)]
    assert sorted(updated(r) for r in listed) == [updated(r) for r in listed], "ascending across pages"
    assert {r[key] for r in listed} == {r[key] for r in truth} and len(listed) == len(truth)
    page_count = math.ceil(len(truth) / page_size)
    for number, page in enumerate(pages[:page_count], start=1):
        assert page["pagination"] == {"page": number, "pageSize": page_size, "pageCount": page_count,
                                      "itemCount": len(truth)}
        assert len(page[resource]) == min(page_size, len(truth) - (number - 1) * page_size)


def test_page_size_counts_only_what_if_modified_since_keeps(shared):
    truth = shared.truth()["invoices"]
    cut = sorted(updated(i) for i in truth)[len(truth) // 2] // 1000 * 1000
    since = utc(cut).strftime("%Y-%m-%dT%H:%M:%S")
    kept = [i for i in truth if updated(i) >= cut]
    body = shared.get("/Invoices", headers={"Nango-Proxy-If-Modified-Since": since}, page=1, pageSize=3).json()
    assert body["pagination"] == {"page": 1, "pageSize": 3, "pageCount": math.ceil(len(kept) / 3),
                                  "itemCount": len(kept)}
    assert len(body["Invoices"]) == 3 and all(updated(i) >= cut for i in body["Invoices"])


def test_a_page_past_the_end_is_empty(shared):
    count = len(shared.truth()["invoices"])
    body = shared.get("/Invoices", page=math.ceil(count / 50) + 1, pageSize=50).json()
    assert body["Invoices"] == [] and body["pagination"]["itemCount"] == count


@pytest.mark.parametrize("page_size", ["0", "1001", "5000", "-1", "ten", "2.5"])
@pytest.mark.parametrize("resource", ["Contacts", "Invoices"])
def test_page_size_outside_1_to_1000_is_refused(shared, resource, page_size):
    response = shared.get(f"/{resource}", page=1, pageSize=page_size)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["Type"] == "ValidationException" and body["ErrorNumber"] == 10 and "pageSize" in body["Message"]


def test_dates_are_microsoft_json_with_string_companions(shared):
    invoices = shared.list("Invoices")
    for invoice in invoices:
        for field in ("Date", "DueDate", "UpdatedDateUTC"):
            assert RECORD_DATE.match(invoice[field]), (field, invoice[field])
        for field in ("Date", "DueDate"):
            day = utc(ms_date(invoice[field]))
            assert day == day.replace(hour=0, minute=0, second=0, microsecond=0), "calendar dates are UTC midnight"
            assert invoice[f"{field}String"] == day.strftime("%Y-%m-%dT%H:%M:%S")
    for contact in shared.list("Contacts"):
        assert RECORD_DATE.match(contact["UpdatedDateUTC"])


def test_single_invoice_is_a_one_element_array(shared):
    invoice = shared.truth()["invoices"][0]
    body = shared.get(f"/Invoices/{invoice['InvoiceID']}").json()
    assert [i["InvoiceID"] for i in body["Invoices"]] == [invoice["InvoiceID"]]


def test_unknown_invoice_is_404(shared):
    assert shared.get(f"/Invoices/{uuid.uuid4()}").status_code == 404  # its body is UNVERIFIED (§3.7)


def test_order_updated_date_ascending(shared):
    stamps = [updated(i) for i in shared.list("Invoices", page_size=10, order="UpdatedDateUTC ASC")]
    assert len(stamps) > 10 and stamps == sorted(stamps)


def test_statuses_filter(shared):
    truth = shared.truth()
    listed = shared.list("Invoices", Statuses="AUTHORISED,PAID")
    assert {i["InvoiceID"] for i in listed} == {i["InvoiceID"] for i in truth["invoices"]
                                                if i["Status"] in ("AUTHORISED", "PAID")}


def test_ids_and_contact_ids_filters(shared):
    truth = shared.truth()["invoices"]
    wanted = [truth[0]["InvoiceID"], truth[-1]["InvoiceID"]]
    assert {i["InvoiceID"] for i in shared.list("Invoices", IDs=",".join(wanted))} == set(wanted)
    contact = truth[0]["Contact"]["ContactID"]
    listed = shared.list("Invoices", ContactIDs=contact)
    assert {i["InvoiceID"] for i in listed} == {i["InvoiceID"] for i in truth if i["Contact"]["ContactID"] == contact}


@pytest.mark.parametrize(("where", "keep"), [
    ('Type=="ACCREC"', lambda i: i["Type"] == "ACCREC"),
    ('Status=="PAID"', lambda i: i["Status"] == "PAID"),
    ("Date>=DateTime(2026,10,01)", lambda i: ms_date(i["Date"]) >= 1790812800000),
    ('Type=="ACCPAY" AND Status=="AUTHORISED"', lambda i: i["Type"] == "ACCPAY" and i["Status"] == "AUTHORISED"),
])
def test_where_filter_subset(shared, where, keep):
    truth = shared.truth()["invoices"]
    expected = {i["InvoiceID"] for i in truth if keep(i)}
    assert 0 < len(expected) < len(truth), "a filter that keeps some and drops some"
    assert {i["InvoiceID"] for i in shared.list("Invoices", where=where)} == expected


# -- incremental sync (§3.4) ---------------------------------------------------------------------

def since_formats(cut_ms: int) -> list[str]:
    """One instant, written the ways clients send If-Modified-Since (Nango/Airbyte, with zone, spec example)."""
    moment = utc(cut_ms).replace(microsecond=0)
    pacific = moment.astimezone(timezone(timedelta(hours=-8)))
    return [moment.strftime("%Y-%m-%dT%H:%M:%S"), moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            moment.isoformat(), pacific.isoformat()]


def test_if_modified_since_returns_records_updated_from_that_second(shared):
    truth = shared.truth()["invoices"]
    stamps = sorted(updated(i) for i in truth)
    cut = stamps[len(stamps) // 2] // 1000 * 1000  # to the second, as Xero counts it
    newer = {i["InvoiceID"] for i in truth if updated(i) >= cut + 1000}
    assert 0 < len(newer) < len(truth)
    for since in since_formats(cut):
        listed = shared.list("Invoices", since=since)
        assert all(updated(i) >= cut for i in listed), since
        # Whether a record within the boundary second itself comes back is UNVERIFIED; later ones must.
        assert newer <= {i["InvoiceID"] for i in listed}, since


@pytest.mark.parametrize(("kind", "status"), [("xero.void", "VOIDED"), ("xero.delete_draft", "DELETED")])
def test_soft_deletes_surface_through_if_modified_since(org, kind, status):
    if kind == "xero.delete_draft":
        org.change("xero.new_invoice", count=2)  # new invoices start as drafts: something to delete
    since = org.clock_iso()
    changed = org.change(kind, count=2)
    assert changed
    listed = {i["InvoiceID"]: i for i in org.list("Invoices", since=since)}
    for invoice_id in changed:
        assert listed[invoice_id]["Status"] == status
        assert utc(updated(listed[invoice_id])).strftime("%Y-%m-%dT%H:%M:%S") >= since


def test_a_silent_due_date_edit_does_not_surface(org):
    since = org.clock_iso()
    before = {i["InvoiceID"]: i for i in org.truth()["invoices"]}
    edited = org.change("xero.silent_due_date", count=1)
    assert edited
    assert not set(edited) & {i["InvoiceID"] for i in org.list("Invoices", since=since)}
    now = {i["InvoiceID"]: i for i in org.list("Invoices")}
    assert now[edited[0]]["DueDate"] != before[edited[0]]["DueDate"], "a full refresh sees the edit"
    assert now[edited[0]]["UpdatedDateUTC"] == before[edited[0]]["UpdatedDateUTC"]


def test_payments_surface_through_if_modified_since(org):
    since = org.clock_iso()
    org.change("xero.payment", count=3)
    fresh = {p["PaymentID"] for p in org.truth()["payments"]
             if utc(updated(p)).strftime("%Y-%m-%dT%H:%M:%S") > since}
    assert fresh
    assert fresh <= {p["PaymentID"] for p in org.list("Payments", since=since)}


def test_archived_contacts_are_hidden_unless_asked_for(org):
    since = org.clock_iso()
    archived = org.change("xero.archive_contact", count=1)
    assert archived
    assert not set(archived) & {c["ContactID"] for c in org.list("Contacts", since=since)}
    assert set(archived) <= {c["ContactID"] for c in org.list("Contacts", since=since, includeArchived="true")}
    default = {c["ContactID"] for c in org.list("Contacts")}
    everything = {c["ContactID"]: c for c in org.list("Contacts", includeArchived="true")}
    assert not set(archived) & default
    assert all(everything[c]["ContactStatus"] == "ARCHIVED" for c in archived)
    assert set(everything) == {c["ContactID"] for c in org.truth()["contacts"]}


# -- rate limits (§3.6) --------------------------------------------------------------------------

def test_limit_headers_count_down(org):
    first, second = org.get("/Organisation"), org.get("/Organisation")
    for name in ("X-DayLimit-Remaining", "X-MinLimit-Remaining", "X-AppMinLimit-Remaining"):
        assert int(first.headers[name]) - int(second.headers[name]) == 1, name


def test_minute_limit_is_429_with_retry_after_and_problem(make_sandbox):
    limited = Org(make_sandbox(users=1, limits={"xero_per_minute": 3}))
    assert [limited.get("/Organisation").status_code for _ in range(3)] == [200, 200, 200]
    response = limited.get("/Organisation")
    assert response.status_code == 429
    assert response.headers["X-Rate-Limit-Problem"] == "minute"
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-MinLimit-Remaining"] == "0"


def test_day_limit_is_429_with_problem_day(org):
    assert org.running.admin.put(f"/users/{org.user}/xero/day-remaining", json={"remaining": 0}).status_code == 200
    response = org.get("/Invoices", page=1)
    assert response.status_code == 429
    assert response.headers["X-Rate-Limit-Problem"] == "day"
    assert int(response.headers["Retry-After"]) > 60
    assert response.headers["X-DayLimit-Remaining"] == "0"
