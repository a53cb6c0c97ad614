"""The dashboard in the owner's words (issue 16): home, plain-word connections, confirmations, the
Context summary, Activity rows, and HTML error pages for browsers."""

from __future__ import annotations

import html
import json
import re
import uuid

import pytest
from sqlalchemy import update

from api import create_app
from pipelines.documents.export import atomic_write
from sylo.accounts import Accounts
from sylo.appdb.schema import commands
from sylo.commands.outbox import Outbox
from sylo.export_layout import ExportLayout
from tests.api.test_dashboard import csrf, sign_in

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def text_of(page: str) -> str:
    """What a person reads: tags gone, entities decoded, whitespace folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def headline(card: str) -> str:
    """A card's visible words, without its folded technical details."""
    return text_of(re.sub(r'<details class="technical">.*?</details>', "", card, flags=re.S))


def card_of(page: str, service: str) -> str:
    return re.search(rf'<li class="card[^"]*"\s+data-service="{service}".*?</li>', page, re.S).group(0)


@pytest.fixture
def accounts(deployment) -> Accounts:
    return Accounts(deployment.appdb.engine)


@pytest.fixture
def newcomer(deployment, accounts):
    """A fresh user, nothing exported, signed in."""
    user_id = f"owner-{uuid.uuid4().hex[:8]}"
    deployment.appdb.create_user(user_id, f"{user_id}@studio.example", "Marlow Studio")
    client = deployment_client(deployment)
    sign_in(client, accounts, user_id)
    return user_id, client


def deployment_client(deployment):
    return create_app(deployment.settings, deployment.appdb).test_client()


@pytest.fixture
def saved_export(deployment):
    """Restore any file of the export a test rewrites."""
    saved: dict = {}

    def keep(path):
        saved.setdefault(path, path.read_bytes() if path.exists() else None)
        return path

    yield keep
    for path, data in saved.items():
        if data is None:
            path.unlink(missing_ok=True)
        else:
            atomic_write(path, data)


# -- errors: pages for people, problem details for programs ---------------------------------------


@pytest.mark.parametrize("path", ["/no-such-page", "/v1/no-such-route", "/connections/fax/disconnect"])
def test_a_browser_gets_an_html_page_for_a_404(app, path, accounts, deployment):
    client = app.test_client()
    sign_in(client, accounts, deployment.users[0])
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "There is nothing here" in text_of(page) and 'href="/static/dashboard.css"' in page
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "urn:sylo:problem" not in page


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/problem+json"])
def test_programs_keep_problem_details_for_unknown_routes(app, accept):
    response = app.test_client().get("/v1/no-such-route", headers={"Accept": accept} if accept else {})
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "urn:sylo:problem:not-found"


def test_a_dashboard_address_used_the_wrong_way_is_a_405_page_with_allow(app):
    response = app.test_client().get("/logout", headers=BROWSER)
    assert response.status_code == 405 and response.mimetype == "text/html"
    assert "POST" in response.headers["Allow"] and "GET" not in response.headers["Allow"]
    assert "cannot be opened this way" in text_of(response.get_data(as_text=True))


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/mcp", 405), ("GET", "/v1/context", 401),
                                                         ("GET", "/v1/commands/cmd_nope", 401)])
def test_api_routes_answer_browsers_with_problem_details_still(app, method, path, status):
    response = app.test_client().open(path, method=method, headers=BROWSER)
    assert response.status_code == status and response.mimetype == "application/problem+json"


def test_a_failure_on_a_dashboard_page_is_a_500_page_without_the_traceback(deployment, accounts, saved_export):
    user_id = deployment.users[1]
    path = saved_export(ExportLayout(deployment.settings.exports).context(user_id, "all", "json"))
    atomic_write(path, b'{"freshness": [')  # a document cut short: the page cannot read it
    client = deployment_client(deployment)
    sign_in(client, accounts, user_id)
    response = client.get("/connections", headers=BROWSER)
    page = response.get_data(as_text=True)
    assert response.status_code == 500 and response.mimetype == "text/html"
    assert "Something went wrong on our side" in text_of(page)
    assert "Traceback" not in page and "JSONDecodeError" not in page


# -- home and signing in ----------------------------------------------------------------------------


def test_home_asks_a_newcomer_to_connect_and_set_up_an_agent(newcomer):
    _, client = newcomer
    page = text_of(client.get("/").get_data(as_text=True))
    assert "Marlow Studio" in page and "Connect your studio's accounts" in page and "Set up your AI agent" in page


def test_home_lists_what_needs_attention_in_a_synced_studio(app, accounts, deployment):
    client = app.test_client()
    sign_in(client, accounts, deployment.users[0])
    page = client.get("/").get_data(as_text=True)
    briefing = json.loads(ExportLayout(deployment.settings.exports).context(deployment.users[0], "all", "json")
                          .read_text())
    overdue = len(briefing["tasks"]["overdue"])
    assert f"{overdue} task{'s' if overdue != 1 else ''} overdue" in text_of(page)
    assert 'href="/context?kind=all#overdue-tasks"' in page


def test_signed_out_home_goes_to_sign_in_and_sign_in_comes_home(app, accounts, deployment):
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    accounts.set_password(deployment.users[0], "correct horse battery")
    page = client.get("/login")
    signed = client.post("/login", data={"csrf_token": csrf(page), "email": f"{deployment.users[0]}@studio.example",
                                         "password": "correct horse battery"})
    assert signed.status_code == 303 and signed.headers["Location"] == "/"


def test_the_sign_in_page_shows_no_commands_and_the_password_page_names_the_account(newcomer, app):
    user_id, client = newcomer
    login = app.test_client().get("/login").get_data(as_text=True)
    assert "sylo users" not in login and "<code>" not in login
    password = client.get("/account/password").get_data(as_text=True)
    assert f"{user_id}@studio.example" in text_of(password) and "Marlow Studio" in text_of(password)
    assert re.search(r'<input id="account" name="username" type="email" autocomplete="username" value="[^"]+" readonly>',
                     password)


# -- connections in plain words ---------------------------------------------------------------------


def test_a_provider_error_is_a_plain_sentence_with_the_raw_reason_folded(newcomer, deployment):
    user_id, client = newcomer
    raw = "invalid_grant: Token has been expired or revoked."
    deployment.appdb.record_connection(user_id=user_id, integration="xero", connection_id=f"c-{user_id}",
                                       status="needs_reauth", kind="needs_reauth", source="webhook", error=raw)
    page = client.get("/connections").get_data(as_text=True)
    card = card_of(page, "xero")
    assert "Xero needs you to sign in again" in headline(card) and "invalid_grant" not in headline(card)
    assert raw in text_of(card) and 'data-state="needs-reauth"' in card
    assert "Reconnect Xero" in text_of(card)


def test_disconnect_asks_first_and_its_post_redirects(newcomer, deployment, make_sandbox):
    user_id, client = newcomer
    deployment.appdb.record_connection(user_id=user_id, integration="asana", connection_id=f"c-{user_id}",
                                       status="connected", kind="connected", source="webhook")
    card = card_of(client.get("/connections").get_data(as_text=True), "asana")
    assert 'href="/connections/asana/disconnect"' in card and "<form" not in card.split("Disconnect Asana")[0][-300:]
    confirm = client.get("/connections/asana/disconnect")
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Disconnect Asana?" in text_of(page)
    assert 'action="/connections/asana/disconnect"' in page and 'name="delete_data"' in page
    assert "Keep it connected" in text_of(page)


def test_a_confirmation_for_a_service_not_connected_goes_back_with_a_note(newcomer):
    _, client = newcomer
    response = client.get("/connections/gmail/disconnect")
    assert response.status_code == 302 and response.headers["Location"] == "/connections"
    assert "Gmail is not connected" in client.get("/connections").get_data(as_text=True)


@pytest.mark.parametrize(("synced", "pending", "offered", "says"), [
    (True, False, True, "keeps the data it already synced"),
    (True, True, False, "is deleting the data"),
    (False, False, False, "keeps nothing from it")], ids=["data kept", "deleting", "deleted"])
def test_a_disconnected_card_offers_to_delete_data_only_while_sylo_holds_some(
        deployment, accounts, saved_export, synced, pending, offered, says):
    user_id = deployment.users[1]
    path = saved_export(ExportLayout(deployment.settings.exports).context(user_id, "all", "json"))
    document = json.loads(path.read_bytes())
    document["as_of"] = "2999-01-01T00:00:00Z"  # built after the disconnection below
    for item in document["freshness"]:
        if item["service"] == "gmail":
            item.update(state="disconnected", connected=False, last_success_at=item["last_success_at"] if synced else None)
    atomic_write(path, json.dumps(document).encode())
    appdb = deployment.appdb
    appdb.record_connection(user_id=user_id, integration="google-mail", connection_id=f"g-{user_id}",
                            status="disconnected", kind="disconnected", source="dashboard")
    appdb.request_purge(user_id, "google-mail") if pending else appdb.purge_done(user_id, "google-mail")
    try:
        client = deployment_client(deployment)
        sign_in(client, accounts, user_id)
        card = card_of(client.get("/connections").get_data(as_text=True), "gmail")
        assert ("Delete synced data" in card) is offered and says in text_of(card)
        assert "Connect Gmail" in text_of(card)
    finally:
        appdb.purge_done(user_id, "google-mail")
        appdb.record_connection(user_id=user_id, integration="google-mail", connection_id=f"g-{user_id}",
                                status="connected", kind="connected", source="webhook")


def test_the_cards_states_are_readable_for_the_page_that_waits(newcomer, deployment):
    user_id, client = newcomer
    assert client.get("/connections/states").get_json() == {"gmail": "not-connected", "asana": "not-connected",
                                                            "xero": "not-connected"}
    deployment.appdb.record_connection(user_id=user_id, integration="asana", connection_id=f"s-{user_id}",
                                       status="connected", kind="connected", source="webhook")
    assert client.get("/connections/states").get_json()["asana"] == "syncing"
    deployment.appdb.record_connection(user_id=user_id, integration="asana", connection_id=f"s-{user_id}",
                                       status="disconnected", kind="disconnected", source="dashboard")
    deployment.appdb.request_purge(user_id, "asana")
    assert client.get("/connections/states").get_json()["asana"] == "disconnected:deleting"
    deployment.appdb.purge_done(user_id, "asana")
    assert client.get("/connections/states").get_json()["asana"] == "disconnected:settling", \
        "no document since the disconnection: what Sylo holds is not known yet"


# -- the Context page --------------------------------------------------------------------------------


def test_context_opens_with_a_summary_linking_to_folded_sections_and_freshness_once(app, accounts, deployment):
    user_id = deployment.users[0]
    client = app.test_client()
    sign_in(client, accounts, user_id)
    page = client.get("/context").get_data(as_text=True)
    briefing = json.loads(ExportLayout(deployment.settings.exports).context(user_id, "all", "json").read_text())
    for anchor in ("overdue-invoices", "overdue-tasks", "mail-awaiting-our-reply"):
        assert f'href="/context?kind=all#{anchor}"' in page and f'<details class="section" id="{anchor}">' in page
    assert "<details class=\"section\" id=\"money\" open" not in page and " open>" not in page
    assert f'<span class="value">{len(briefing["tasks"]["overdue"])}</span>' in page
    shown = text_of(page)
    assert "up to date, synced" not in shown, "the document's own list of sources is left out"
    assert shown.count("Up to date") == 3 and user_id not in page
    assert "Studio briefing" not in shown


def test_context_says_not_known_when_xero_is_not_connected(deployment, accounts, saved_export):
    user_id = deployment.users[1]
    path = saved_export(ExportLayout(deployment.settings.exports).context(user_id, "all", "json"))
    document = json.loads(path.read_bytes())
    document["financials"] = {"availability": {"status": "unavailable", "services": ["xero"]}, "summary": None,
                              "overdue_invoices": None, "due_in_30_days": None, "bills_due": None}
    for item in document["freshness"]:
        if item["service"] == "xero":
            item.update(state="not_connected", connected=False, last_success_at=None)
    atomic_write(path, json.dumps(document).encode())
    client = deployment_client(deployment)
    sign_in(client, accounts, user_id)
    for page in ("/context", "/"):
        shown = text_of(client.get(page).get_data(as_text=True))
        assert "Money owed to the studio Not known Xero: not connected" in shown
        assert "Nothing owed" not in shown and "invoices overdue" not in shown and "invoice overdue" not in shown


# -- Activity: one row per command, in words ----------------------------------------------------------


def accept(appdb, user_id: str, action: str, params: dict, status: str | None = None, **values) -> str:
    command, _ = Outbox(appdb.engine).accept(user_id=user_id, message_id=f"msg_{uuid.uuid4().hex}", action=action,
                                             params=params, source="http")
    if status:
        with appdb.engine.begin() as conn:
            conn.execute(update(commands).where(commands.c.id == command.id).values(status=status, **values))
    return command.id


def test_activity_says_what_the_agent_asked_with_names_from_the_documents(app, accounts, deployment):
    user_id = deployment.users[0]
    export = ExportLayout(deployment.settings.exports)
    project = json.loads(export.context(user_id, "projects", "json").read_text())["projects"][0]
    task = json.loads(export.context(user_id, "tasks", "json").read_text())["overdue"][0]
    name = f"Send drawings {uuid.uuid4().hex[:4]}"
    created = accept(deployment.appdb, user_id, "asana.create_task", {"project_gid": project["id"], "name": name},
                     "delivered")
    accept(deployment.appdb, user_id, "asana.comment", {"task_gid": task["id"], "text": "Sent."}, "failed",
           failure_cause="rejected", last_error="422 no branch for this action")
    client = app.test_client()
    sign_in(client, accounts, user_id)
    page = client.get("/activity").get_data(as_text=True)
    shown = text_of(page)
    assert f"Your agent asked to add the task {name} to the project {project['name']} delivered" in shown
    assert f"Your agent asked to comment on the task {task['name']} failed Your n8n workflow turned it down." in shown
    assert created not in shown and f'href="/activity/{created}"' in page, "ids only behind the detail page"
    detail = client.get(f"/activity/{created}").get_data(as_text=True)
    assert created in detail and project["id"] in detail and "accepted" in text_of(detail)


@pytest.mark.parametrize(("status", "words"), [("queued", "waiting to be sent"), ("running", "running"),
                                               ("succeeded", "done"), ("awaiting_approval", "waiting for your approval"),
                                               ("declined", "declined"), ("a_status_from_next_year", "a status from next year")])
def test_every_status_reads_as_words_even_one_not_known_yet(newcomer, deployment, status, words):
    user_id, client = newcomer
    accept(deployment.appdb, user_id, "veo.generate_video", {"prompt": "A walk through the library"}, status)
    shown = text_of(client.get("/activity").get_data(as_text=True))
    assert f"Your agent asked to generate a video of A walk through the library {words}" in shown


@pytest.mark.parametrize(("detail", "explanation"), [
    ("rate limit", "more commands in one minute than Sylo allows"),
    ("invalid params: project_gid: Field required", "missing or not valid, so nothing was done"),
    ("unknown action", "Sylo has no action by that name"),
    ("something new", "Sylo refused it, so nothing was done")])
def test_a_refusal_explains_itself(newcomer, deployment, detail, explanation):
    user_id, client = newcomer
    Outbox(deployment.appdb.engine).audit(user_id, "command.refused", "refused", action="asana.create_task",
                                          message_id="msg_refused_1", source="http", detail=detail)
    page = client.get("/activity").get_data(as_text=True)
    row = text_of(page)
    assert "Your agent tried to add a task in Asana refused" in row and explanation in row
    assert "msg_refused_1" in re.search(r'<details class="more technical">.*?</details>', page, re.S).group(0)


def test_synced_and_agent_text_stays_text(newcomer, deployment):
    user_id, client = newcomer
    hostile = '<img src=x onerror=alert(1)> [pay](https://evil.example)'
    command_id = accept(deployment.appdb, user_id, "asana.create_task", {"project_gid": "1", "name": hostile})
    for path in ("/activity", f"/activity/{command_id}", "/"):
        page = client.get(path).get_data(as_text=True)
        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
        assert 'href="https://evil.example' not in page


def test_activity_pages_by_row_and_hides_another_users_commands(newcomer, deployment):
    user_id, client = newcomer
    ids = [accept(deployment.appdb, user_id, "asana.comment", {"task_gid": str(n), "text": "x"}, "delivered")
           for n in range(30)]
    first = client.get("/activity").get_data(as_text=True)
    assert first.count("Your agent asked to comment") == 25 and "Older requests" in text_of(first)
    older = re.search(r'href="(/activity\?before=\d+)"', first).group(1)
    assert client.get(older).get_data(as_text=True).count("Your agent asked to comment") == 5
    someone_else = accept(deployment.appdb, deployment.users[0], "asana.comment", {"task_gid": "9", "text": "x"})
    assert client.get(f"/activity/{someone_else}", headers=BROWSER).status_code == 404
    assert ids[-1] in first and ids[0] not in first  # newest first
