"""A creative studio as its owner would describe it: team, clients, suppliers and jobs.

This is the shared truth the three services are generated from, so a client's Xero contact,
its Asana projects and its Gmail threads agree on names and email domains.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from sandbox import vocab


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}".strip()

    @property
    def address(self) -> str:
        return f"{self.name} <{self.email}>"


@dataclass
class Client:
    name: str  # the Xero contact name
    short: str  # how the studio refers to them in project names
    domain: str
    contact: Person
    currency: str
    household: bool = False


@dataclass
class Job:
    name: str  # the Asana project name
    title: str
    client: Client | None
    start: date
    end: date


@dataclass
class Supplier:
    name: str
    trade: str
    domain: str
    contact: Person


@dataclass
class Studio:
    name: str
    kind: str
    domain: str
    owner: Person
    team: list[Person]
    country: dict
    clients: list[Client] = field(default_factory=list)
    suppliers: list[Supplier] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)

    @property
    def currency(self) -> str:
        return self.country["currency"]

    @property
    def vocab(self) -> dict:
        return vocab.STUDIO_KINDS[self.kind]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def make_studio(rng: random.Random, today: date, scale: float) -> Studio:
    """Invent a studio: its people, its clients and suppliers, and the jobs it is running."""
    kind = rng.choice(sorted(vocab.STUDIO_KINDS))
    country = rng.choice(vocab.COUNTRIES)
    a, b = rng.sample(vocab.LAST_NAMES, 2)
    name = rng.choice(vocab.STUDIO_KINDS[kind]["names"]).format(a=a, b=b)
    domain = f"{slug(a)}{slug(b)[:4]}studio.{country['tld']}"
    first_names = rng.sample(vocab.FIRST_NAMES, 5)
    owner = Person(first_names[0], a, f"{first_names[0].lower()}@{domain}")
    team = [owner] + [
        Person(first, rng.choice(vocab.LAST_NAMES), f"{first.lower()}@{domain}")
        for first in first_names[1 : 2 + rng.randint(1, 3)]
    ]
    studio = Studio(name=name, kind=kind, domain=domain, owner=owner, team=team, country=country)
    studio.clients = _make_clients(rng, studio, max(2, round(6 * scale) + rng.randint(0, 2)))
    studio.suppliers = _make_suppliers(rng, studio)
    studio.jobs = _make_jobs(rng, studio, today)
    return studio


def _person_at(rng: random.Random, domain: str | None) -> Person:
    first, last = rng.choice(vocab.FIRST_NAMES), rng.choice(vocab.LAST_NAMES)
    if domain is None:
        personal = rng.choice(vocab.PERSONAL_DOMAINS)
        return Person(first, last, f"{slug(first)}.{slug(last)}{rng.randint(1, 99)}@{personal}")
    return Person(first, last, f"{slug(first)}@{domain}")


def _make_clients(rng: random.Random, studio: Studio, count: int) -> list[Client]:
    clients: list[Client] = []
    used: set[str] = set()
    words = rng.sample(vocab.COMPANY_WORDS, len(vocab.COMPANY_WORDS))
    for index in range(count):
        currency = studio.currency
        if rng.random() < 0.15:
            currency = rng.choice([c for c in vocab.FOREIGN_CURRENCIES if c != studio.currency])
        if rng.random() < 0.3:
            contact = _person_at(rng, None)
            partner = rng.choice(vocab.FIRST_NAMES)
            short = contact.last if contact.last not in used else f"{contact.first} {contact.last}"
            client = Client(f"{contact.first} & {partner} {contact.last}", short,
                            contact.email.split("@")[1], contact, currency, household=True)
        else:
            word, suffix = words[index % len(words)], rng.choice(vocab.COMPANY_SUFFIXES)
            name = f"{word} {suffix}" if index < len(words) else f"{word} {suffix} {index // len(words) + 1}"
            short = word if word not in used else name
            tld = studio.country["tld"] if currency == studio.currency else "com"
            domain = f"{slug(name)[:18]}.{tld}"
            client = Client(name, short, domain, _person_at(rng, domain), currency)
        used.add(client.short)
        clients.append(client)
    return clients


def _make_suppliers(rng: random.Random, studio: Studio) -> list[Supplier]:
    chosen = rng.sample(studio.vocab["suppliers"], rng.randint(3, len(studio.vocab["suppliers"])))
    suppliers = []
    for name, trade in chosen:
        domain = f"{slug(name)[:14]}.{studio.country['tld']}"
        suppliers.append(Supplier(name, trade, domain, _person_at(rng, domain)))
    return suppliers


def _make_jobs(rng: random.Random, studio: Studio, today: date) -> list[Job]:
    titles = list(studio.vocab["jobs"])
    jobs = []
    for client in studio.clients:
        for title in rng.sample(titles, 1 + (rng.random() < 0.5) + (rng.random() < 0.15)):
            start = today - timedelta(days=rng.randint(20, 200))
            end = start + timedelta(days=rng.randint(60, 260))
            label = title[0].upper() + title[1:]
            name = f"{client.short} — {label}" if rng.random() < 0.8 else f"{label} ({client.short})"
            if any(job.name == name for job in jobs):
                name = f"{name} {len(jobs) + 1}"
            jobs.append(Job(name, title, client, start, end))
    for internal in ("Studio operations", "Website & awards"):
        start = today - timedelta(days=rng.randint(100, 300))
        jobs.append(Job(internal, internal.lower(), None, start, today + timedelta(days=365)))
    return jobs
