"""Change batches: the studio's life moving on, so incremental sync has something to find.

A batch advances the virtual clock by `BATCH_MS` and, for each chosen user, applies about
`fraction × records` changes drawn from `DEFAULT_WEIGHTS` (or from the caller's own mix of
kinds), spread across that window. Asana changes go through the workspace's methods, which
record the events Asana's `/events` streams report. Two kinds are off by default because
polling alone cannot see them (reference/providers.md): a Xero due-date edit that does not bump
UpdatedDateUTC, and an Asana task moved between projects (only the events stream tells).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

from sandbox import vocab
from sandbox.generate import client_line, new_message, studio_line, to_date
from sandbox.ids import rng_for
from sandbox.stores.asana import Project, Section, Task
from sandbox.stores.gmail import Message
from sandbox.stores.xero import Contact, Invoice, LineItem, Payment
from sandbox.studio import Person
from sandbox.world import UserWorld, World

BATCH_MS = 30 * 60_000

DEFAULT_WEIGHTS: dict[str, float] = {
    "gmail.client_reply": 8, "gmail.studio_reply": 5, "gmail.new_thread": 3, "gmail.mark_read": 6,
    "gmail.archive": 4, "gmail.trash": 2, "gmail.delete": 1, "gmail.newsletter": 3,
    "asana.complete_task": 8, "asana.reschedule": 5, "asana.rename": 2, "asana.reassign": 3,
    "asana.add_task": 6, "asana.delete_task": 2, "asana.move_section": 2, "asana.add_project": 0.5,
    "asana.archive_project": 0.5, "asana.delete_project": 0.2,
    "xero.new_invoice": 3, "xero.authorise": 3, "xero.payment": 4, "xero.void": 1, "xero.delete_draft": 1,
    "xero.new_bill": 2, "xero.pay_bill": 2, "xero.new_contact": 1, "xero.update_contact": 1,
    "xero.archive_contact": 0.5,
    "xero.silent_due_date": 0, "asana.move_project": 0,
}

Change = Callable[[UserWorld, random.Random, int], str | None]


def apply_batch(world: World, *, fraction: float = 0.01, count: int | None = None,
                users: list[str] | None = None, weights: dict[str, float] | None = None) -> dict:
    """Apply one batch of changes; return what changed, per user, for tests and the CLI."""
    unknown = set(weights or {}) - set(CHANGES)
    if unknown:
        raise ValueError(f"unknown change kinds: {sorted(unknown)}")
    table = dict(weights) if weights else DEFAULT_WEIGHTS  # given weights are the whole mix
    kinds = [kind for kind, weight in table.items() if weight > 0]
    with world.lock:
        world.batches += 1
        batch = world.batches
        end_ms = world.advance(BATCH_MS)
    summary: dict[str, list[dict]] = {}
    for user in [world.user(u) for u in users] if users is not None else world.users():
        rng = rng_for(world.seed, user.user_id, "batch", batch)
        with user.lock:
            wanted = count if count is not None else _stochastic_round(rng, fraction * user.record_count())
            step = BATCH_MS // (wanted + 1)
            applied = []
            for i in range(wanted):
                at = end_ms - BATCH_MS + (i + 1) * step
                applied += _apply_one(user, rng, at, kinds, [table[k] for k in kinds])
            summary[user.user_id] = applied
    return {"batch": batch, "clock": end_ms, "changes": summary}


def _stochastic_round(rng: random.Random, value: float) -> int:
    whole = int(value)
    return whole + (rng.random() < value - whole)


def _apply_one(user: UserWorld, rng: random.Random, at: int, kinds: list[str], weights: list[float]) -> list[dict]:
    for _ in range(8):  # a kind may not apply (no drafts to authorise); try another
        kind = rng.choices(kinds, weights)[0]
        record_id = CHANGES[kind](user, rng, at)
        if record_id is not None:
            return [{"kind": kind, "id": record_id, "at": at}]
    return []


# -- Gmail ---------------------------------------------------------------------------------------


def _threads(user: UserWorld) -> dict[str, list[Message]]:
    threads: dict[str, list[Message]] = {}
    for message in sorted(user.mailbox.messages.values(), key=lambda m: (m.internal_ms, m.id)):
        threads.setdefault(message.thread_id, []).append(message)
    return threads


def _client_threads(user: UserWorld) -> list[list[Message]]:
    clients = {c.contact.email for c in user.studio.clients}
    return [msgs for msgs in _threads(user).values()
            if any(_email(m.sender) in clients or _email(m.to) in clients for m in msgs)]


def _email(address: str) -> str:
    return address.rsplit("<", 1)[-1].rstrip(">")


def _counterpart(user: UserWorld, thread: list[Message]) -> Person | None:
    emails = {_email(m.sender) for m in thread} | {_email(m.to) for m in thread}
    return next((c.contact for c in user.studio.clients if c.contact.email in emails), None)


def gmail_client_reply(user: UserWorld, rng: random.Random, at: int) -> str | None:
    threads = _client_threads(user)
    if not threads:
        return None
    thread = rng.choice(threads)
    contact, owner = _counterpart(user, thread), user.studio.owner
    body = f"Hi {owner.first},\n\n{client_line(user.mail, owner.first)}\n\nThanks,\n{contact.first}"
    message = new_message(user.mail, sender=contact, to=owner, subject=thread[0].subject, body=body, at_ms=at,
                          thread=thread[-1], labels=["INBOX", "UNREAD", "CATEGORY_PERSONAL", "Label_1"])
    user.mailbox.insert(message)
    return message.id


def gmail_studio_reply(user: UserWorld, rng: random.Random, at: int) -> str | None:
    owner = user.studio.owner
    waiting = [t for t in _client_threads(user) if _email(t[-1].sender) != owner.email]
    if not waiting:
        return None
    thread = rng.choice(waiting)
    for message in thread:
        if "UNREAD" in message.label_ids:
            user.mailbox.change_labels(message.id, remove=("UNREAD",))
    contact = _counterpart(user, thread)
    body = f"{studio_line(user.mail, contact.first)}\n\n{owner.first}"
    reply = new_message(user.mail, sender=owner, to=contact, subject=thread[0].subject, body=body, at_ms=at,
                        thread=thread[-1], labels=["SENT", "Label_1"])
    user.mailbox.insert(reply)
    return reply.id


def gmail_new_thread(user: UserWorld, rng: random.Random, at: int) -> str | None:
    jobs = [job for job in user.studio.jobs if job.client]
    job = rng.choice(jobs)
    owner = user.studio.owner
    subject = f"{job.name}: {rng.choice(('a quick question', 'next steps', 'update from our side', 'invoice query'))}"
    body = f"Hi {owner.first},\n\n{client_line(user.mail, owner.first)}\n\n{job.client.contact.first}"
    message = new_message(user.mail, sender=job.client.contact, to=owner, subject=subject, body=body, at_ms=at,
                          thread=None, labels=["INBOX", "UNREAD", "CATEGORY_PERSONAL"])
    user.mailbox.insert(message)
    return message.id


def _pick_message(user: UserWorld, rng: random.Random, test: Callable[[Message], bool]) -> Message | None:
    candidates = [m for m in user.mailbox.messages.values() if test(m)]
    return rng.choice(sorted(candidates, key=lambda m: m.id)) if candidates else None


def gmail_mark_read(user: UserWorld, rng: random.Random, at: int) -> str | None:
    message = _pick_message(user, rng, lambda m: "UNREAD" in m.label_ids)
    if message:
        user.mailbox.change_labels(message.id, remove=("UNREAD",))
    return message and message.id


def gmail_archive(user: UserWorld, rng: random.Random, at: int) -> str | None:
    message = _pick_message(user, rng, lambda m: "INBOX" in m.label_ids and "UNREAD" not in m.label_ids)
    if message:
        user.mailbox.change_labels(message.id, remove=("INBOX",))
    return message and message.id


def gmail_trash(user: UserWorld, rng: random.Random, at: int) -> str | None:
    message = _pick_message(user, rng, lambda m: "CATEGORY_PROMOTIONS" in m.label_ids and "TRASH" not in m.label_ids)
    if message:
        user.mailbox.change_labels(message.id, add=("TRASH",), remove=("INBOX", "UNREAD"))
    return message and message.id


def gmail_delete(user: UserWorld, rng: random.Random, at: int) -> str | None:
    message = (_pick_message(user, rng, lambda m: "TRASH" in m.label_ids)
               or _pick_message(user, rng, lambda m: "CATEGORY_PROMOTIONS" in m.label_ids))
    if message:
        user.mailbox.delete(message.id)
    return message and message.id


def gmail_newsletter(user: UserWorld, rng: random.Random, at: int) -> str | None:
    name, domain, subject = rng.choice(vocab.NEWSLETTERS)
    message = new_message(user.mail, sender=Person(name, "", f"news@{domain}"), to=user.studio.owner,
                          subject=subject, body=f"{subject}. This week's picks from {domain}.", at_ms=at, thread=None,
                          labels=["INBOX", "UNREAD", "CATEGORY_PROMOTIONS"])
    user.mailbox.insert(message)
    return message.id


# -- Asana ---------------------------------------------------------------------------------------


def _pick_task(user: UserWorld, rng: random.Random, test: Callable[[Task], bool]) -> Task | None:
    candidates = [t for t in user.workspace.tasks.values() if test(t)]
    return rng.choice(candidates) if candidates else None


def _open(task: Task) -> bool:
    return not task.completed


def asana_complete_task(user: UserWorld, rng: random.Random, at: int) -> str | None:
    task = _pick_task(user, rng, _open)
    if task:
        user.workspace.edit_task(task, at, "completed", True)
    return task and task.gid


def asana_reschedule(user: UserWorld, rng: random.Random, at: int) -> str | None:
    task = _pick_task(user, rng, lambda t: _open(t) and t.due_on is not None)
    if task:
        user.workspace.edit_task(task, at, "due_on", task.due_on + timedelta(days=rng.choice((-3, -1, 2, 5, 7, 14))))
    return task and task.gid


def asana_rename(user: UserWorld, rng: random.Random, at: int) -> str | None:
    task = _pick_task(user, rng, _open)
    if task:
        suffix = rng.choice(('revised', 'round 2', 'client asked', 'urgent'))
        user.workspace.edit_task(task, at, "name", f"{task.name} ({suffix})")
    return task and task.gid


def asana_reassign(user: UserWorld, rng: random.Random, at: int) -> str | None:
    task = _pick_task(user, rng, _open)
    if task:
        assignee = rng.choice([g for g in user.workspace.users if g != task.assignee_gid])
        user.workspace.edit_task(task, at, "assignee", assignee)
    return task and task.gid


def asana_move_section(user: UserWorld, rng: random.Random, at: int) -> str | None:
    task = _pick_task(user, rng, lambda t: len(user.workspace.projects[t.project_gid].section_gids) > 1)
    if task:
        sections = user.workspace.projects[task.project_gid].section_gids
        user.workspace.move_task_to_section(task, rng.choice([s for s in sections if s != task.section_gid]), at)
    return task and task.gid


def asana_move_project(user: UserWorld, rng: random.Random, at: int) -> str | None:
    """Move a task to another project. Asana does not bump modified_at for this (only events tell)."""
    task = _pick_task(user, rng, lambda t: True)
    targets = [p for p in user.workspace.projects.values() if not p.archived and task and p.gid != task.project_gid]
    if not task or not targets:
        return None
    user.workspace.move_task_to_project(task, rng.choice(targets), at)
    return task.gid


def _active_projects(user: UserWorld) -> list[Project]:
    return [p for p in user.workspace.projects.values() if not p.archived]


def asana_add_task(user: UserWorld, rng: random.Random, at: int) -> str | None:
    projects = _active_projects(user)
    if not projects:
        return None
    project = rng.choice(projects)
    serial = user.next_serial()
    task = Task(user.ids("task", "new", serial), rng.choice(user.studio.vocab["tasks"]), project.gid,
                rng.choice(project.section_gids), at, at, assignee_gid=rng.choice(list(user.workspace.users)),
                due_on=to_date(at) + timedelta(days=rng.randint(1, 21)), notes="Added during the week.")
    user.workspace.create_task(task, at)
    return task.gid


def asana_delete_task(user: UserWorld, rng: random.Random, at: int) -> str | None:
    task = _pick_task(user, rng, lambda t: True)
    if task:
        user.workspace.remove_task(task.gid, at)
    return task and task.gid


def asana_add_project(user: UserWorld, rng: random.Random, at: int) -> str | None:
    client = rng.choice(user.studio.clients)
    serial = user.next_serial()
    title = rng.choice(user.studio.vocab["jobs"])
    name = f"{client.short} — {title[0].upper()}{title[1:]} {serial}"
    owner = next(iter(user.workspace.users))
    project = Project(user.ids("project", "new", serial), name, owner, at, at, notes=f"Client: {client.name}.",
                      start_on=to_date(at), due_on=to_date(at) + timedelta(days=120))
    sections = [Section(user.ids("section", "new", serial, i), phase, project.gid, at)
                for i, phase in enumerate(user.studio.vocab["phases"][:3])]
    user.workspace.create_project(project, sections, at)
    for i in range(rng.randint(2, 5)):
        user.workspace.create_task(Task(user.ids("task", "new", serial, i), user.studio.vocab["tasks"][i], project.gid,
                                     sections[0].gid, at, at, assignee_gid=owner,
                                     due_on=to_date(at) + timedelta(days=7 * (i + 1))), at)
    return project.gid


def asana_archive_project(user: UserWorld, rng: random.Random, at: int) -> str | None:
    projects = [p for p in _active_projects(user) if p.due_on and p.due_on < to_date(at)]
    if not projects:
        return None
    project = rng.choice(projects)
    user.workspace.archive_project(project, at)
    return project.gid


def asana_delete_project(user: UserWorld, rng: random.Random, at: int) -> str | None:
    projects = [p for p in user.workspace.projects.values() if p.archived] or _active_projects(user)
    if len(user.workspace.projects) < 3 or not projects:
        return None
    project = rng.choice(projects)
    user.workspace.remove_project(project.gid, at)
    return project.gid


# -- Xero ----------------------------------------------------------------------------------------


def _pick_invoice(user: UserWorld, rng: random.Random, test: Callable[[Invoice], bool]) -> Invoice | None:
    candidates = [i for i in user.org.invoices.values() if test(i)]
    return rng.choice(candidates) if candidates else None


def _customer_ids(user: UserWorld) -> list[str]:
    return [c.id for c in user.org.contacts.values() if c.is_customer and c.status == "ACTIVE"]


def xero_new_invoice(user: UserWorld, rng: random.Random, at: int) -> str | None:
    contact_id = rng.choice(_customer_ids(user))
    serial = user.next_serial()
    day = to_date(at)
    low, high = user.studio.vocab["fees"]
    line = LineItem(user.ids("line", "new", serial), "Design fees — next stage", 1,
                    rng.randint(low // 50, high // 50) * 5000, user.studio.country["tax"], "200")
    contact = user.org.contacts[contact_id]
    invoice = Invoice(user.ids("invoice", "new", serial), user.org.take_invoice_number(), "ACCREC", contact_id, day,
                      day + timedelta(days=14), contact.currency or user.org.base_currency, [line], at,
                      reference=f"{contact.name} — next stage")
    user.org.invoices[invoice.id] = invoice
    return invoice.id


def xero_authorise(user: UserWorld, rng: random.Random, at: int) -> str | None:
    invoice = _pick_invoice(user, rng, lambda i: i.status == "DRAFT")
    if invoice:
        invoice.status, invoice.sent_to_contact, invoice.updated_ms = "AUTHORISED", True, at
    return invoice and invoice.id


def _pay(user: UserWorld, rng: random.Random, at: int, kind: str, partial: bool) -> str | None:
    invoice = _pick_invoice(user, rng, lambda i: i.type == kind and i.status == "AUTHORISED")
    if not invoice:
        return None
    remaining = invoice.total_cents - invoice.paid_cents
    amount = remaining * rng.randint(3, 7) // 10 if partial and rng.random() < 0.3 else remaining
    payment = Payment(user.ids("payment", "new", user.next_serial()), invoice.id, to_date(at), amount, at,
                      reference="Bank transfer")
    user.org.pay(invoice, payment, at)
    return invoice.id


def xero_payment(user: UserWorld, rng: random.Random, at: int) -> str | None:
    return _pay(user, rng, at, "ACCREC", partial=True)


def xero_pay_bill(user: UserWorld, rng: random.Random, at: int) -> str | None:
    return _pay(user, rng, at, "ACCPAY", partial=False)


def xero_void(user: UserWorld, rng: random.Random, at: int) -> str | None:
    invoice = _pick_invoice(user, rng, lambda i: i.status == "AUTHORISED" and not i.payment_ids)
    if invoice:
        invoice.status, invoice.updated_ms = "VOIDED", at
    return invoice and invoice.id


def xero_delete_draft(user: UserWorld, rng: random.Random, at: int) -> str | None:
    invoice = _pick_invoice(user, rng, lambda i: i.status == "DRAFT")
    if invoice:
        invoice.status, invoice.updated_ms = "DELETED", at
    return invoice and invoice.id


def xero_new_bill(user: UserWorld, rng: random.Random, at: int) -> str | None:
    suppliers = [c for c in user.org.contacts.values() if c.is_supplier and c.status == "ACTIVE"]
    if not suppliers:
        return None
    supplier = rng.choice(suppliers)
    serial = user.next_serial()
    day = to_date(at)
    line = LineItem(user.ids("line", "new", serial), f"{supplier.name} services", 1, rng.randint(8, 240) * 1000,
                    user.studio.country["tax"], "400")
    bill = Invoice(user.ids("invoice", "new", serial), f"BILL-{serial}", "ACCPAY", supplier.id, day,
                   day + timedelta(days=14), user.org.base_currency, [line], at, status="AUTHORISED",
                   reference=f"{supplier.name} {day:%B}")
    user.org.invoices[bill.id] = bill
    return bill.id


def xero_new_contact(user: UserWorld, rng: random.Random, at: int) -> str | None:
    serial = user.next_serial()
    word, suffix = rng.choice(vocab.COMPANY_WORDS), rng.choice(vocab.COMPANY_SUFFIXES)
    first, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
    contact = Contact(user.ids("contact", "new", serial), f"{word} {suffix} {serial}", first, last,
                      f"{first.lower()}@{word.lower()}{serial}.com", at, is_customer=True,
                      city=user.studio.country["city"], country=user.studio.country["code"])
    user.org.contacts[contact.id] = contact
    return contact.id


def xero_update_contact(user: UserWorld, rng: random.Random, at: int) -> str | None:
    contacts = [c for c in user.org.contacts.values() if c.status == "ACTIVE"]
    contact = rng.choice(contacts)
    contact.phone, contact.updated_ms = f"{rng.randint(200, 999)} {rng.randint(1000, 9999)}", at
    return contact.id


def xero_archive_contact(user: UserWorld, rng: random.Random, at: int) -> str | None:
    busy = {i.contact_id for i in user.org.invoices.values() if i.status in ("DRAFT", "AUTHORISED")}
    idle = [c for c in user.org.contacts.values() if c.status == "ACTIVE" and c.id not in busy]
    if not idle:
        return None
    contact = rng.choice(idle)
    contact.status, contact.updated_ms = "ARCHIVED", at
    return contact.id


def xero_silent_due_date(user: UserWorld, rng: random.Random, at: int) -> str | None:
    """Move a part-paid invoice's due date without bumping UpdatedDateUTC, as Xero does."""
    invoice = _pick_invoice(user, rng, lambda i: i.status == "AUTHORISED" and i.paid_cents > 0) or _pick_invoice(
        user, rng, lambda i: i.status == "AUTHORISED")
    if invoice:
        invoice.due_day += timedelta(days=rng.choice((7, 14)))
    return invoice and invoice.id


CHANGES: dict[str, Change] = {
    "gmail.client_reply": gmail_client_reply, "gmail.studio_reply": gmail_studio_reply,
    "gmail.new_thread": gmail_new_thread, "gmail.mark_read": gmail_mark_read, "gmail.archive": gmail_archive,
    "gmail.trash": gmail_trash, "gmail.delete": gmail_delete, "gmail.newsletter": gmail_newsletter,
    "asana.complete_task": asana_complete_task, "asana.reschedule": asana_reschedule, "asana.rename": asana_rename,
    "asana.reassign": asana_reassign, "asana.add_task": asana_add_task, "asana.delete_task": asana_delete_task,
    "asana.move_section": asana_move_section, "asana.move_project": asana_move_project,
    "asana.add_project": asana_add_project, "asana.archive_project": asana_archive_project,
    "asana.delete_project": asana_delete_project,
    "xero.new_invoice": xero_new_invoice, "xero.authorise": xero_authorise, "xero.payment": xero_payment,
    "xero.void": xero_void, "xero.delete_draft": xero_delete_draft, "xero.new_bill": xero_new_bill,
    "xero.pay_bill": xero_pay_bill, "xero.new_contact": xero_new_contact, "xero.update_contact": xero_update_contact,
    "xero.archive_contact": xero_archive_contact, "xero.silent_due_date": xero_silent_due_date,
}
assert set(CHANGES) == set(DEFAULT_WEIGHTS)
