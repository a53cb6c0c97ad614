"""Home: what needs the owner's attention now, the studio at a glance, and the latest activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Response, g, render_template, url_for

from api import sessions
from api.dashboard import activity as activity_page
from api.dashboard.blueprint import bp, sylo as _sylo
from api.dashboard.connections import connection_cards
from api.dashboard.context_page import amount, count, read_json, summary, unknown
from api.dashboard.permissions import waiting_count
from sylo.clock import utc_now

RECENT = 3  # activity rows on the home page
RECENT_DAYS = 7  # how far back a command that did not go through still asks for attention


@dataclass(frozen=True)
class Attention:
    """One thing to look at: what, why, and where to deal with it."""

    tone: str  # bad | warn | neutral
    title: str
    text: str
    href: str
    action: str


@bp.get("/")
@sessions.signed_in
def home() -> Response:
    """What needs attention, the studio at a glance, the latest activity."""
    user_id = g.user_id
    user = _sylo().appdb.get_user(user_id)
    cards = connection_cards(user_id)
    briefing = read_json(user_id, "all")
    entries, _ = activity_page.page_of_entries(user_id, None)
    names = activity_page.Names(user_id)
    rows = [activity_page.row(entry, names) for entry in entries]
    items = (_approval_items(user_id) + _connection_items(cards) + _money_and_work(briefing) + _activity_items(rows)
             + _agent_items(user_id))
    return render_template("dashboard/home.html", studio=(user.display_name or user.email or "your studio") if user
                           else "your studio", items=items, figures=summary(briefing), recent=rows[:RECENT],
                           cards=cards)


def _approval_items(user_id: str) -> list[Attention]:
    waiting = waiting_count(user_id)
    if not waiting:
        return []
    return [Attention("warn", f"{count(waiting, 'request')} from your agents {'wait' if waiting != 1 else 'waits'} "
                              "for your approval",
                      "Nothing is done until you approve. Unanswered requests expire.",
                      url_for("dashboard.permissions") + "#approvals", "Review and decide")]


def _connection_items(cards: list[dict]) -> list[Attention]:
    connections = url_for("dashboard.connections")
    if all(card["state"] in ("not-connected", "disconnected") for card in cards):
        return [Attention("neutral", "Connect your studio's accounts",
                          "Sylo reads Gmail, Asana and Xero to tell your AI agents what is going on. Start with one.",
                          connections, "Connect an account")]
    tones = {"needs-reauth": "bad", "error": "bad", "stale": "warn", "paused": "warn"}
    return [Attention(tones[card["state"]], _headline(card), card["explanation"], connections,
                      f"Reconnect {card['name']}" if card["state"] in ("needs-reauth", "error") else "See connections")
            for card in cards if card["state"] in tones]


def _headline(card: dict) -> str:
    return {"needs-reauth": f"{card['name']} needs you to sign in again", "error": f"{card['name']} could not be read",
            "stale": f"{card['name']} is behind", "paused": f"{card['name']} is paused"}[card["state"]]


def _money_and_work(briefing: dict) -> list[Attention]:
    """Overdue invoices per currency, overdue tasks, mail awaiting a reply: only what Sylo knows."""
    context = url_for("dashboard.context", kind="all")
    money, tasks, mail = (briefing.get(body) or {} for body in ("financials", "tasks", "communications"))
    items = [Attention("bad", f"{count(row['overdue_invoices'], 'invoice')} overdue: "
                              f"{amount(row['receivables_overdue'])} {row['currency']}",
                       f"Clients owe the studio {amount(row['receivables_outstanding'])} {row['currency']} in all.",
                       context + "#overdue-invoices", "See overdue invoices")
             for row in ([] if unknown(money) else money.get("summary") or []) if row["overdue_invoices"]]
    if not unknown(tasks) and tasks.get("overdue"):
        items.append(Attention("warn", f"{count(len(tasks['overdue']), 'task')} overdue",
                               "Past their due date in Asana.", context + "#overdue-tasks", "See overdue tasks"))
    if not unknown(mail) and mail.get("awaiting_reply"):
        items.append(Attention("warn", f"{count(mail['awaiting_reply'], 'thread')} awaiting your reply",
                               "The other side wrote last, in Gmail.", context + "#mail-awaiting-our-reply",
                               "See the mail"))
    return items


def _activity_items(rows: list) -> list[Attention]:
    since = utc_now() - timedelta(days=RECENT_DAYS)
    troubled = [r for r in rows if r.tone == "bad" and r.at >= since]
    items = []
    if problem := activity_page.n8n_problem():
        items.append(Attention("bad", "Your agents' commands are not getting through",
                               "They wait and are sent as soon as n8n, where your workflows run, takes them again. "
                               "Tell whoever set up Sylo: " + problem, url_for("dashboard.activity"), "See activity"))
    if troubled:
        count = len(troubled)
        items.append(Attention("warn", f"{count} request{'s' if count != 1 else ''} from your agents did not go through",
                               f"In the last {RECENT_DAYS} days. Each says why on the Activity page.",
                               url_for("dashboard.activity"), "See activity"))
    return items


def _agent_items(user_id: str) -> list[Attention]:
    if any(token.revoked_at is None for token in _sylo().appdb.tokens(user_id)):
        return []
    return [Attention("neutral", "Set up your AI agent", "Give Claude, Cursor or another AI client access to what "
                      "Sylo knows about your studio.", url_for("dashboard.agents"), "Set up an agent")]
