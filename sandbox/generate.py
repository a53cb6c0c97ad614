"""Fill the three services from a studio: Asana projects and tasks, Gmail threads, Xero books.

Everything is drawn from one seeded generator per user and service, and every id is derived
from its path, so the same (seed, user, now, scale) always yields the same records.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sandbox import vocab
from sandbox.ids import asana_gid, det_uuid, digest, gmail_id, rng_for
from sandbox.stores.asana import Project, Section, Task, User, Workspace
from sandbox.stores.gmail import Mailbox, Message
from sandbox.stores.xero import Contact, Invoice, LineItem, Organisation, Payment, day_ms
from sandbox.studio import Client, Job, Person, Studio

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def to_date(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date()


@dataclass
class Ids:
    """Names new records for one user: `Ids(seed, user)("task", 7)`."""

    seed: int
    user_id: str

    def __call__(self, kind: str, *parts: object) -> str:
        if kind in ("task", "project", "section", "asana-user", "workspace"):
            return asana_gid(self.seed, self.user_id, kind, *parts)
        return det_uuid(self.seed, self.user_id, kind, *parts)

    def gmail(self, internal_ms: int, *parts: object) -> str:
        return gmail_id(internal_ms, self.seed, self.user_id, *parts)


# -- Asana ---------------------------------------------------------------------------------------


def build_workspace(studio: Studio, ids: Ids, now_ms: int) -> Workspace:
    rng = rng_for(ids.seed, ids.user_id, "asana")
    workspace = Workspace(gid=ids("workspace"), name=studio.name)
    for index, person in enumerate(studio.team):
        gid = ids("asana-user", index)
        workspace.users[gid] = User(gid, person.name, person.email)
    user_gids = list(workspace.users)
    today = to_date(now_ms)
    for job_index, job in enumerate(studio.jobs):
        project = _project_for(job, job_index, ids, user_gids[0], now_ms, rng)
        phases = list(studio.vocab["phases"])[: rng.randint(3, len(studio.vocab["phases"]))]
        sections = [Section(ids("section", job_index, i), phase, project.gid, project.created_ms)
                    for i, phase in enumerate(phases)]
        workspace.add_project(project, sections)
        for task in _tasks_for(job, job_index, project, sections, studio, ids, user_gids, today, now_ms, rng):
            workspace.add_task(task)
        if job.client and job.end < today - timedelta(days=30) and rng.random() < 0.5:
            project.archived = True
    return workspace


def _project_for(job: Job, index: int, ids: Ids, owner: str, now_ms: int, rng: random.Random) -> Project:
    created = min(now_ms - HOUR_MS, day_ms(job.start) + rng.randint(8, 18) * HOUR_MS)
    notes = f"Client: {job.client.name}. Contact: {job.client.contact.name}." if job.client else "Internal."
    return Project(ids("project", index), job.name, owner, created, created + rng.randint(1, 40) * HOUR_MS // 10,
                   notes=notes, color=rng.choice(("light-green", "dark-blue", "light-orange", "dark-pink")),
                   start_on=job.start if job.client else None, due_on=job.end if job.client else None)


def _tasks_for(job: Job, job_index: int, project: Project, sections: list[Section], studio: Studio,
               ids: Ids, user_gids: list[str], today: date, now_ms: int, rng: random.Random) -> list[Task]:
    names = rng.sample(studio.vocab["tasks"], min(len(studio.vocab["tasks"]), rng.randint(8, 16)))
    duration = (job.end - job.start).days
    finished = job.end < today
    tasks = []
    for i, name in enumerate(names):
        due = job.start + timedelta(days=(i + 1) * duration // (len(names) + 1) + rng.randint(-5, 5))
        created = min(now_ms - HOUR_MS, day_ms(job.start) + rng.randint(0, 10) * DAY_MS + rng.randint(9, 17) * HOUR_MS)
        task = Task(ids("task", job_index, i), name, project.gid,
                    sections[min(len(sections) - 1, i * len(sections) // len(names))].gid,
                    created, created, assignee_gid=rng.choice(user_gids) if rng.random() > 0.15 else None,
                    due_on=due if rng.random() > 0.1 else None,
                    notes=f"{name} for {job.name}.")
        done_chance = 1.0 if finished else 0.82 if due < today else 0.1 if due <= today + timedelta(days=7) else 0.03
        if rng.random() < done_chance:
            task.completed = True
            task.completed_ms = max(created + HOUR_MS, min(now_ms - HOUR_MS, day_ms(due) + rng.randint(-4, 3) * DAY_MS
                                                            + rng.randint(9, 18) * HOUR_MS))
        task.modified_ms = min(now_ms - 60_000, max(created, task.completed_ms or created) + rng.randint(1, 600) * 60_000)
        tasks.append(task)
    return tasks


# -- Gmail ---------------------------------------------------------------------------------------


@dataclass
class _MailContext:
    studio: Studio
    mailbox: Mailbox
    ids: Ids
    rng: random.Random
    now_ms: int
    serial: int = 0


def build_mailbox(studio: Studio, ids: Ids, now_ms: int) -> Mailbox:
    rng = rng_for(ids.seed, ids.user_id, "gmail")
    mailbox = Mailbox(email=studio.owner.email, history_id=1_000_000 + rng.randint(0, 8_000_000))
    mailbox.user_labels = {"Label_1": "Clients", "Label_2": "Invoices", "Label_3": "Suppliers"}
    ctx = _MailContext(studio, mailbox, ids, rng, now_ms)
    messages: list[Message] = []
    today = to_date(now_ms)
    for job in studio.jobs:
        if job.client is None or job.end < today - timedelta(days=45):
            continue
        for _ in range(rng.randint(1, 4)):
            messages += _thread(ctx, job.client, job, max(day_ms(job.start), now_ms - 50 * DAY_MS))
    for supplier in studio.suppliers:
        for _ in range(rng.randint(1, 2)):
            messages += _supplier_thread(ctx, supplier.contact, supplier.name)
    for _ in range(max(3, round(len(studio.clients) * 0.8))):
        messages.append(_newsletter(ctx))
    for message in sorted(messages, key=lambda m: (m.internal_ms, m.id)):
        mailbox.insert(message, record=False)
    mailbox.history_floor = mailbox.history_id
    return mailbox


def new_message(ctx: _MailContext, *, sender: Person, to: Person, subject: str, body: str, at_ms: int,
                thread: Message | None, labels: list[str]) -> Message:
    """Compose one message; `thread` is the message it replies to, if any."""
    ctx.serial += 1
    message_id = ctx.ids.gmail(at_ms, "msg", ctx.serial)
    header_id = f"<{digest(message_id).hex()[:20]}@{sender.email.split('@')[1]}>"
    return Message(id=message_id, thread_id=thread.thread_id if thread else message_id, label_ids=labels,
                   internal_ms=at_ms, history_id=0, sender=sender.address, to=to.address,
                   subject=f"Re: {subject}" if thread and not subject.startswith("Re:") else subject, body=body,
                   message_id_header=header_id, in_reply_to=thread.message_id_header if thread else None)


def received_labels(rng: random.Random, at_ms: int, now_ms: int, extra: tuple[str, ...] = ()) -> list[str]:
    labels = ["CATEGORY_PERSONAL", *extra]
    if now_ms - at_ms < 4 * DAY_MS and rng.random() < 0.6:
        labels.append("UNREAD")
    if now_ms - at_ms < 20 * DAY_MS or rng.random() < 0.7:
        labels.insert(0, "INBOX")
    if rng.random() < 0.3:
        labels.append("IMPORTANT")
    return labels


def client_line(ctx: _MailContext, first: str) -> str:
    return ctx.rng.choice(vocab.CLIENT_LINES).format(first=first, day=ctx.rng.choice(vocab.DAYS))


def studio_line(ctx: _MailContext, first: str) -> str:
    return ctx.rng.choice(vocab.STUDIO_LINES).format(first=first, day=ctx.rng.choice(vocab.DAYS))


def _thread(ctx: _MailContext, client: Client, job: Job, earliest_ms: int) -> list[Message]:
    rng, owner = ctx.rng, ctx.studio.owner
    subject = rng.choice(vocab.THREAD_SUBJECTS).format(project=job.name, job=job.title, day=rng.choice(vocab.DAYS))
    at = earliest_ms + rng.randint(0, max(1, ctx.now_ms - earliest_ms - HOUR_MS))
    from_client = rng.random() < 0.6
    thread: list[Message] = []
    for _ in range(rng.randint(1, 6)):
        if at >= ctx.now_ms:
            break
        previous = thread[-1] if thread else None
        if from_client:
            body = f"Hi {owner.first},\n\n{client_line(ctx, owner.first)}\n\nBest,\n{client.contact.first}"
            labels = received_labels(rng, at, ctx.now_ms, ("Label_1",))
            message = new_message(ctx, sender=client.contact, to=owner, subject=subject, body=body, at_ms=at,
                                  thread=previous, labels=labels)
        else:
            body = f"{studio_line(ctx, client.contact.first)}\n\n{owner.first}\n{ctx.studio.name}"
            message = new_message(ctx, sender=owner, to=client.contact, subject=subject, body=body, at_ms=at,
                                  thread=previous, labels=["SENT", "Label_1"])
        thread.append(message)
        from_client = not from_client if rng.random() < 0.85 else from_client
        at += rng.randint(2, 96) * HOUR_MS
    return thread


def _supplier_thread(ctx: _MailContext, contact: Person, supplier: str) -> list[Message]:
    rng = ctx.rng
    at = ctx.now_ms - rng.randint(1, 60) * DAY_MS
    subject = rng.choice((f"Quote from {supplier}", f"{supplier}: your order", f"Invoice from {supplier}"))
    body = f"Hello {ctx.studio.owner.first},\n\nPlease find the details attached.\n\nKind regards,\n{contact.first}, {supplier}"
    return [new_message(ctx, sender=contact, to=ctx.studio.owner, subject=subject, body=body, at_ms=at,
                        thread=None, labels=received_labels(rng, at, ctx.now_ms, ("CATEGORY_UPDATES", "Label_3")))]


def _newsletter(ctx: _MailContext) -> Message:
    rng = ctx.rng
    sender_name, domain, subject = rng.choice(vocab.NEWSLETTERS)
    at = ctx.now_ms - rng.randint(1, 30 * 24) * HOUR_MS
    labels = ["INBOX", "CATEGORY_PROMOTIONS"] + (["UNREAD"] if rng.random() < 0.7 else [])
    sender = Person(sender_name, "", f"news@{domain}")
    return new_message(ctx, sender=sender, to=ctx.studio.owner, subject=subject,
                       body=f"{subject}. Read more on {domain}. Unsubscribe any time.", at_ms=at, thread=None,
                       labels=labels)


# -- Xero ----------------------------------------------------------------------------------------


def build_organisation(studio: Studio, ids: Ids, now_ms: int) -> Organisation:
    rng = rng_for(ids.seed, ids.user_id, "xero")
    today = to_date(now_ms)
    org = Organisation(tenant_id=ids("xero-tenant"), name=studio.name, base_currency=studio.currency,
                       country=studio.country["code"], timezone=studio.country["tz"],
                       created_ms=now_ms - 700 * DAY_MS)
    contacts: dict[str, str] = {}
    for index, client in enumerate(studio.clients):
        contacts[client.name] = _add_contact(org, ids("contact", index), client.name, client.contact, studio, rng,
                                             now_ms, customer=True, currency=client.currency)
    for index, supplier in enumerate(studio.suppliers):
        contacts[supplier.name] = _add_contact(org, ids("supplier", index), supplier.name, supplier.contact, studio,
                                               rng, now_ms, customer=False)
    for index in range(rng.randint(1, 2)):
        person = Person(rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES), f"old{index}@example.com")
        old = _add_contact(org, ids("archived", index), f"{person.name} (old client)", person, studio, rng, now_ms,
                           customer=True)
        org.contacts[old].status = "ARCHIVED"
    sales = [inv for i, job in enumerate(studio.jobs) if job.client
             for inv in _job_invoices(org, job, i, contacts[job.client.name], ids, rng, today, now_ms, studio)]
    for invoice in sorted(sales, key=lambda inv: (inv.day, inv.id)):
        invoice.number = org.take_invoice_number()
        org.invoices[invoice.id] = invoice
    for index, supplier in enumerate(studio.suppliers):
        for bill in _bills(org, supplier.name, index, contacts[supplier.name], ids, rng, today, now_ms, studio):
            org.invoices[bill.id] = bill
    return org


def _add_contact(org: Organisation, contact_id: str, name: str, person: Person, studio: Studio, rng: random.Random,
                 now_ms: int, *, customer: bool, currency: str | None = None) -> str:
    org.contacts[contact_id] = Contact(
        id=contact_id, name=name, first_name=person.first, last_name=person.last, email=person.email,
        updated_ms=now_ms - rng.randint(30, 400) * DAY_MS + rng.randint(0, DAY_MS), is_customer=customer,
        is_supplier=not customer, city=studio.country["city"], country=studio.country["code"],
        phone=f"{rng.randint(200, 999)} {rng.randint(1000, 9999)}",
        currency=currency if currency and currency != studio.currency else None)
    return contact_id


def _line_items(ids: Ids, key: str, descriptions: list[str], amounts: list[int], tax: float, code: str) -> list[LineItem]:
    return [LineItem(ids("line", key, i), text, 1, cents, tax, code)
            for i, (text, cents) in enumerate(zip(descriptions, amounts))]


def _job_invoices(org: Organisation, job: Job, job_index: int, contact_id: str, ids: Ids, rng: random.Random,
                  today: date, now_ms: int, studio: Studio) -> list[Invoice]:
    low, high = studio.vocab["fees"]
    span = max(1, (min(today, job.end) - job.start).days)
    invoices = []
    count = rng.randint(1, 4)
    terms = rng.choice((14, 30))
    for i in range(count):
        day = job.start + timedelta(days=(i + 1) * span // (count + 1))
        phase = rng.choice(studio.vocab["phases"])
        texts = [rng.choice(vocab.INVOICE_LINES).format(phase=phase, job=job.title)
                 for _ in range(rng.randint(1, 3))]
        amounts = [rng.randint(low // 50, high // 50) * 5000 // max(1, len(texts)) for _ in texts]
        key = f"{job_index}-{i}"
        invoice = Invoice(id=ids("invoice", key), number="", type="ACCREC", contact_id=contact_id, day=day,
                          due_day=day + timedelta(days=terms), currency=job.client.currency,
                          line_items=_line_items(ids, key, texts, amounts, studio.country["tax"], "200"),
                          updated_ms=day_ms(day) + rng.randint(9, 17) * HOUR_MS,
                          reference=f"{job.name} — {phase}")
        _settle_history(org, invoice, ids, rng, today, now_ms, last=i == count - 1)
        invoices.append(invoice)
    return invoices


def _settle_history(org: Organisation, invoice: Invoice, ids: Ids, rng: random.Random, today: date, now_ms: int,
                    *, last: bool) -> None:
    """Decide how far an invoice has come: draft, sent, part paid, paid, voided or deleted."""
    overdue_days = (today - invoice.due_day).days
    roll = rng.random()
    if last and roll < 0.3 and overdue_days < 0:
        invoice.status = "DELETED" if rng.random() < 0.1 else "DRAFT"
        return
    invoice.status, invoice.sent_to_contact = "AUTHORISED", True
    if rng.random() < 0.05:
        invoice.status = "VOIDED"
        invoice.updated_ms = min(now_ms - HOUR_MS, invoice.updated_ms + rng.randint(1, 10) * DAY_MS)
        return
    paid_chance = 0.85 if overdue_days > 45 else 0.45 if overdue_days > 0 else 0.1
    part_chance = 0.0 if overdue_days > 45 else 0.15
    if roll < paid_chance:
        amount = invoice.total_cents
    elif roll < paid_chance + part_chance:
        amount = invoice.total_cents * rng.randint(3, 6) // 10
    else:
        return
    pay_day = min(today, invoice.due_day + timedelta(days=rng.randint(-10, 10)))
    pay_day = max(pay_day, invoice.day)
    paid_ms = min(now_ms - HOUR_MS, day_ms(pay_day) + rng.randint(9, 17) * HOUR_MS)
    payment = Payment(ids("payment", invoice.id), invoice.id, pay_day, amount, paid_ms, reference="Bank transfer")
    org.pay(invoice, payment, paid_ms)


def _bills(org: Organisation, supplier: str, index: int, contact_id: str, ids: Ids, rng: random.Random, today: date,
           now_ms: int, studio: Studio) -> list[Invoice]:
    bills = []
    for i in range(rng.randint(2, 4)):
        day = today - timedelta(days=rng.randint(2, 120))
        key = f"bill-{index}-{i}"
        cents = rng.randint(8, 240) * 1000
        bill = Invoice(id=ids("invoice", key), number=f"{''.join(w[0] for w in supplier.split())[:3].upper()}-{rng.randint(1000, 9999)}",
                       type="ACCPAY", contact_id=contact_id, day=day, due_day=day + timedelta(days=rng.choice((7, 14, 30))),
                       currency=studio.currency,
                       line_items=_line_items(ids, key, [f"{supplier} services"], [cents], studio.country["tax"], "400"),
                       updated_ms=day_ms(day) + rng.randint(9, 17) * HOUR_MS, reference=f"{supplier} {day:%B}",
                       status="AUTHORISED")
        _settle_history(org, bill, ids, rng, today, now_ms, last=False)
        bills.append(bill)
    return bills
