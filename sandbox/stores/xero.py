"""One Xero organisation: contacts, invoices (sales and bills) and payments, in Xero's shapes.

Facts followed (reference/providers.md §3): PascalCase keys; `/Date(ms+0000)/` dates with
`*String` companions; deletions are soft (DRAFT→DELETED, AUTHORISED→VOIDED, contacts ARCHIVED)
and bump `UpdatedDateUTC`; a few edits (DueDate on a part-paid invoice) do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone


def ms_date(ms: int) -> str:
    """Xero's Microsoft JSON date with offset: `/Date(1776297600000+0000)/`."""
    return f"/Date({ms}+0000)/"


def day_ms(day: date) -> int:
    """Calendar dates are encoded as midnight UTC."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def money(cents: int) -> float:
    return round(cents / 100, 2)


@dataclass
class LineItem:
    id: str
    description: str
    quantity: int
    unit_cents: int
    tax_rate: float
    account_code: str

    @property
    def line_cents(self) -> int:
        return self.quantity * self.unit_cents

    @property
    def tax_cents(self) -> int:
        return round(self.line_cents * self.tax_rate)


@dataclass
class Contact:
    id: str
    name: str
    first_name: str
    last_name: str
    email: str
    updated_ms: int
    is_customer: bool = False
    is_supplier: bool = False
    status: str = "ACTIVE"
    city: str = ""
    country: str = ""
    phone: str = ""
    currency: str | None = None


@dataclass
class Payment:
    id: str
    invoice_id: str
    day: date
    amount_cents: int
    updated_ms: int
    reference: str = ""
    status: str = "AUTHORISED"


@dataclass
class Invoice:
    id: str
    number: str
    type: str  # ACCREC (sales invoice) or ACCPAY (bill)
    contact_id: str
    day: date
    due_day: date
    currency: str
    line_items: list[LineItem]
    updated_ms: int
    status: str = "DRAFT"
    reference: str = ""
    paid_cents: int = 0
    fully_paid_ms: int | None = None
    sent_to_contact: bool = False
    payment_ids: list[str] = field(default_factory=list)

    @property
    def subtotal_cents(self) -> int:
        return sum(item.line_cents for item in self.line_items)

    @property
    def tax_cents(self) -> int:
        return sum(item.tax_cents for item in self.line_items)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents

    @property
    def due_cents(self) -> int:
        if self.status in ("VOIDED", "DELETED"):
            return 0
        return self.total_cents - self.paid_cents


@dataclass
class Organisation:
    """The tenant and its records. Nothing is ever removed: Xero deletes by status."""

    tenant_id: str
    name: str
    base_currency: str
    country: str
    timezone: str
    created_ms: int
    contacts: dict[str, Contact] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    next_invoice_number: int = 1

    def take_invoice_number(self) -> str:
        number = f"INV-{self.next_invoice_number:04d}"
        self.next_invoice_number += 1
        return number

    def pay(self, invoice: Invoice, payment: Payment, now_ms: int) -> None:
        """Record a payment; a fully paid invoice becomes PAID."""
        self.payments[payment.id] = payment
        invoice.payment_ids.append(payment.id)
        invoice.paid_cents += payment.amount_cents
        if invoice.paid_cents >= invoice.total_cents:
            invoice.status = "PAID"
            invoice.fully_paid_ms = day_ms(payment.day)
        invoice.updated_ms = now_ms

    # -- rendering ---------------------------------------------------------------------------

    def contact_ref(self, contact_id: str) -> dict:
        contact = self.contacts[contact_id]
        return {"ContactID": contact.id, "Name": contact.name}

    def contact_json(self, contact: Contact) -> dict:
        out = {
            "ContactID": contact.id,
            "ContactStatus": contact.status,
            "Name": contact.name,
            "FirstName": contact.first_name,
            "LastName": contact.last_name,
            "EmailAddress": contact.email,
            "IsSupplier": contact.is_supplier,
            "IsCustomer": contact.is_customer,
            "Addresses": [{"AddressType": "POBOX", "City": contact.city, "Country": contact.country}],
            "Phones": [{"PhoneType": "MOBILE", "PhoneNumber": contact.phone}],
            "UpdatedDateUTC": ms_date(contact.updated_ms),
            "HasAttachments": False,
        }
        if contact.currency:
            out["DefaultCurrency"] = contact.currency
        return out

    def invoice_json(self, invoice: Invoice, *, with_lines: bool = True) -> dict:
        out = {
            "Type": invoice.type,
            "InvoiceID": invoice.id,
            "InvoiceNumber": invoice.number,
            "Reference": invoice.reference,
            "Contact": self.contact_ref(invoice.contact_id),
            "Date": ms_date(day_ms(invoice.day)),
            "DateString": invoice.day.isoformat() + "T00:00:00",
            "DueDate": ms_date(day_ms(invoice.due_day)),
            "DueDateString": invoice.due_day.isoformat() + "T00:00:00",
            "Status": invoice.status,
            "LineAmountTypes": "Exclusive",
            "SubTotal": money(invoice.subtotal_cents),
            "TotalTax": money(invoice.tax_cents),
            "Total": money(invoice.total_cents),
            "AmountDue": money(invoice.due_cents),
            "AmountPaid": money(invoice.paid_cents),
            "AmountCredited": 0.0,
            "CurrencyCode": invoice.currency,
            "CurrencyRate": 1.0,
            "SentToContact": invoice.sent_to_contact,
            "HasAttachments": False,
            "IsDiscounted": False,
            "Payments": [self.payment_ref(self.payments[pid]) for pid in invoice.payment_ids],
            "CreditNotes": [],
            "UpdatedDateUTC": ms_date(invoice.updated_ms),
        }
        if invoice.fully_paid_ms is not None:
            out["FullyPaidOnDate"] = ms_date(invoice.fully_paid_ms)
        if with_lines:
            out["LineItems"] = [
                {"LineItemID": item.id, "Description": item.description, "Quantity": item.quantity,
                 "UnitAmount": money(item.unit_cents), "TaxType": "OUTPUT" if item.tax_rate else "NONE",
                 "TaxAmount": money(item.tax_cents), "LineAmount": money(item.line_cents),
                 "AccountCode": item.account_code}
                for item in invoice.line_items
            ]
        return out

    def payment_ref(self, payment: Payment) -> dict:
        return {"PaymentID": payment.id, "Date": ms_date(day_ms(payment.day)),
                "Amount": money(payment.amount_cents), "Reference": payment.reference}

    def payment_json(self, payment: Payment) -> dict:
        invoice = self.invoices[payment.invoice_id]
        return {
            "PaymentID": payment.id,
            "Date": ms_date(day_ms(payment.day)),
            "Amount": money(payment.amount_cents),
            "Reference": payment.reference,
            "IsReconciled": True,
            "Status": payment.status,
            "PaymentType": "ACCRECPAYMENT" if invoice.type == "ACCREC" else "ACCPAYPAYMENT",
            "Invoice": {"InvoiceID": invoice.id, "InvoiceNumber": invoice.number, "Type": invoice.type},
            "UpdatedDateUTC": ms_date(payment.updated_ms),
        }

    def organisation_json(self) -> dict:
        return {
            "OrganisationID": self.tenant_id, "Name": self.name, "LegalName": f"{self.name} Limited",
            "BaseCurrency": self.base_currency, "CountryCode": self.country, "Timezone": self.timezone,
            "OrganisationStatus": "ACTIVE", "IsDemoCompany": False, "Class": "STANDARD",
            "FinancialYearEndDay": 31, "FinancialYearEndMonth": 3, "CreatedDateUTC": f"/Date({self.created_ms})/",
        }
