"""The dashboard at the HTTP level: sessions, CSRF, isolation between users, the connection actions."""

from __future__ import annotations

import html
import re

import pytest

from api import create_app
from pipelines.documents.export import atomic_write
from sylo.accounts import Accounts
from sylo.appdb import AppDB
from sylo.export_layout import ExportLayout
from sylo.settings import Settings

PAGES = ["/connections", "/agents", "/context", "/activity", "/account/password"]


def csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def as_text(markdown: str) -> str:
    """What a line of Markdown reads as on a page."""
    from api.dashboard.context_page import MARKDOWN

    return html.unescape(re.sub(r"<[^>]+>", "", MARKDOWN.render(markdown))).strip()


def sign_in(client, accounts: Accounts, user_id: str):
    link = f"/login/{accounts.create_login_link(user_id)}"
    page = client.get(link)
    response = client.post(link, data={"csrf_token": csrf(page)})
    assert response.status_code == 303
    return response


@pytest.fixture
def accounts(deployment) -> Accounts:
    return Accounts(deployment.appdb.engine)


def test_pages_need_a_session_and_come_back_after_sign_in(app, accounts, deployment):
    client = app.test_client()
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    sign_in(client, accounts, deployment.users[0])
    for page in PAGES:
        assert client.get(page).status_code == 200, page


def test_a_sign_in_link_works_once(app, accounts, deployment):
    token = accounts.create_login_link(deployment.users[0])
    first, second = app.test_client(), app.test_client()
    page = first.get(f"/login/{token}")
    assert first.post(f"/login/{token}", data={"csrf_token": csrf(page)}).status_code == 303
    assert second.get(f"/login/{token}").status_code == 410
    page = second.get("/login")
    spent = second.post(f"/login/{token}", data={"csrf_token": csrf(page)})
    assert spent.status_code == 410 and second.get("/connections").status_code == 302


def test_the_session_cookie_is_locked_down(app, accounts, deployment):
    response = sign_in(app.test_client(), accounts, deployment.users[0])
    cookie = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sylo_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; see the https case below


def test_behind_https_the_cookie_is_secure(deployment, accounts):
    settings = deployment.settings.model_copy(update={"public_url": "https://sylo.studio.example"})
    client = create_app(settings, deployment.appdb).test_client()
    response = sign_in(client, accounts, deployment.users[0])
    assert "Secure" in [h for h in response.headers.getlist("Set-Cookie") if h.startswith("sylo_session=")][0]


def test_passwords_sign_in_and_wrong_ones_do_not(app, accounts, deployment):
    user_id = deployment.users[1]
    accounts.set_password(user_id, "correct horse battery")
    client = app.test_client()
    page = client.get("/login")
    wrong = client.post("/login", data={"csrf_token": csrf(page), "email": f"{user_id}@studio.example",
                                        "password": "nope nope nope"})
    assert wrong.status_code == 401 and "do not match" in wrong.get_data(as_text=True)
    right = client.post("/login", data={"csrf_token": csrf(page), "email": f"{user_id.upper()}@STUDIO.example",
                                        "password": "correct horse battery", "next": "/activity"})
    assert right.status_code == 303 and right.headers["Location"] == "/activity"
    assert client.get("/connections").status_code == 200


def test_next_never_leaves_the_site(app, accounts, deployment):
    accounts.set_password(deployment.users[2], "another long password")
    client = app.test_client()
    page = client.get("/login")
    for target in ("https://evil.example/", "//evil.example", "javascript:alert(1)"):
        response = client.post("/login", data={"csrf_token": csrf(page), "email": f"{deployment.users[2]}@studio.example",
                                               "password": "another long password", "next": target})
        assert response.headers["Location"] == "/connections"


@pytest.mark.parametrize("path", ["/agents/tokens", "/agents/secret/rotate", "/connections/gmail/disconnect",
                                  "/connections/gmail/connect", "/logout", "/account/password"])
def test_forms_without_the_csrf_token_are_refused(app, accounts, deployment, path):
    client = app.test_client()
    sign_in(client, accounts, deployment.users[0])
    before = deployment.appdb.tokens(deployment.users[0])
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post(path, data=data)
        assert response.status_code == 403 and "did not come from this site" in response.get_data(as_text=True)
    assert deployment.appdb.tokens(deployment.users[0]) == before
    assert client.get("/connections").status_code == 200  # still signed in: nothing happened


def test_the_login_form_needs_its_csrf_cookie(app, deployment):
    response = app.test_client().post("/login", data={"csrf_token": "x", "email": "a@b.example", "password": "p"})
    assert response.status_code == 403


def test_an_expired_session_goes_back_to_sign_in(app, accounts, deployment):
    client = app.test_client()
    sign_in(client, accounts, deployment.users[0])
    token = client.get_cookie("sylo_session").value
    accounts.expire_session(token)
    response = client.get("/agents")
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/agents"


def test_signing_out_ends_the_session_on_the_server(app, accounts, deployment):
    client = app.test_client()
    sign_in(client, accounts, deployment.users[0])
    token = client.get_cookie("sylo_session").value
    page = client.get("/connections")
    assert client.post("/logout", data={"csrf_token": csrf(page)}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("sylo_session", token)
    assert replay.get("/connections").status_code == 302


def test_one_user_never_sees_anothers_documents_tokens_or_activity(app, accounts, deployment):
    alice, bob = deployment.users[:2]
    alice_token, _ = deployment.appdb.issue_token(alice, label="alice-laptop-token")
    client = app.test_client()
    sign_in(client, accounts, bob)
    export = ExportLayout(deployment.settings.exports)
    bobs = set(export.context(bob, "all", "md").read_text().splitlines())
    alice_only = [line for line in export.context(alice, "all", "md").read_text().splitlines()
                  if line.startswith("- ") and line not in bobs][:5]
    assert alice_only
    pages = {page: client.get(page).get_data(as_text=True) for page in PAGES + ["/context?kind=financials"]}
    joined = "\n".join(pages.values())
    assert alice not in joined and "alice-laptop-token" not in joined and alice_token.id not in joined
    shown = html.unescape(re.sub(r"<[^>]+>", "", pages["/context"]))
    sections = export.context(bob, "all", "md").read_text().split("\n## ", 1)[1]  # the header's sources are shown apart
    mine = [line for line in sections.splitlines() if line.startswith("- ")][:3]
    assert all(as_text(line) in shown for line in mine)  # the check can see text
    assert not any(as_text(line) in shown for line in alice_only)
    assert client.post(f"/agents/tokens/{alice_token.id}/revoke", data={"csrf_token": csrf(client.get("/agents"))}
                       ).status_code == 302
    assert not any(t.revoked_at for t in deployment.appdb.tokens(alice))  # bob cannot revoke alice's token


def test_markdown_is_rendered_without_raw_html_or_script_links(app, accounts, deployment):
    bob = deployment.users[1]
    path = ExportLayout(deployment.settings.exports).context(bob, "tasks", "md")
    original = path.read_bytes()
    try:
        atomic_write(path, b"# Tasks\n\n<script>alert(1)</script>\n\n[click](javascript:alert(2)) **bold**\n")
        client = app.test_client()
        sign_in(client, accounts, bob)
        html = client.get("/context?kind=tasks").get_data(as_text=True)
        assert "<script>alert(1)" not in html and "&lt;script&gt;" in html
        assert 'href="javascript:' not in html and "<strong>bold</strong>" in html
    finally:
        atomic_write(path, original)


def test_pages_are_small_and_carry_security_headers(app, accounts, deployment):
    client = app.test_client()
    sign_in(client, accounts, deployment.users[2])  # nothing exported: the page without the user's data
    assets = sum(len(client.get(f"/static/{name}").data) for name in ("dashboard.css", "dashboard.js"))
    for page in PAGES:
        response = client.get(page)
        assert len(response.data) + assets < 100_000, page
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"


def test_connect_starts_a_nango_session_tagged_with_the_user(make_sandbox, tmp_path):
    sandbox = make_sandbox(users=0)
    settings = Settings(_env_file=None, data_dir=tmp_path, nango_url=sandbox.url,
                        nango_secret_key=sandbox.secret_key)
    appdb = AppDB.from_settings(settings)
    app = create_app(settings, appdb)
    appdb.create_user("carol", "carol@studio.example")
    client = app.test_client()
    sign_in(client, Accounts(appdb.engine), "carol")
    response = client.post("/connections/asana/connect", data={"csrf_token": csrf(client.get("/connections"))})
    assert response.status_code == 303 and response.headers["Location"].startswith(sandbox.url + "/connect")
    token = re.search(r"session_token=([\w]+)", response.headers["Location"]).group(1)
    done = sandbox.nango.post("/connect/complete", data={"session_token": token, "integration": "asana"})
    assert done.status_code == 200
    [connection] = sandbox.nango.get("/connections", params={"tags[end_user_id]": "carol"}).json()["connections"]
    assert connection["provider_config_key"] == "asana"
    appdb.record_connection(user_id="carol", integration="asana", connection_id=connection["connection_id"],
                            status="connected", kind="connected", source="webhook")
    page = client.get("/connections")
    assert 'data-service="asana" data-state="syncing"' in page.get_data(as_text=True)
    gone = client.post("/connections/asana/disconnect", data={"csrf_token": csrf(page), "delete_data": "yes"})
    assert gone.status_code == 302
    assert sandbox.nango.get("/connections", params={"tags[end_user_id]": "carol"}).json()["connections"] == []
    [record] = appdb.connections("carol")
    assert record.status == "disconnected" and record.purge_requested_at is not None
    assert 'data-service="asana" data-state="disconnected"' in client.get("/connections").get_data(as_text=True)


def test_a_first_sync_that_failed_shows_the_error_not_syncing(app, accounts, deployment):
    import json as jsonlib

    user_id = deployment.users[1]
    path = ExportLayout(deployment.settings.exports).context(user_id, "all", "json")
    original = path.read_bytes()
    document = jsonlib.loads(original)
    for item in document["freshness"]:
        if item["service"] == "xero":
            item.update(last_success_at=None, state="failing", error="Xero answered 500 three times",
                        note="last sync failed: Xero answered 500 three times")
    deployment.appdb.record_connection(user_id=user_id, integration="xero", connection_id="c-xero-1",
                                       status="connected", kind="connected", source="webhook")
    try:
        atomic_write(path, jsonlib.dumps(document).encode())
        client = app.test_client()
        sign_in(client, accounts, user_id)
        page = client.get("/connections").get_data(as_text=True)
        assert 'data-service="xero" data-state="error"' in page and "Xero answered 500" in page
    finally:
        atomic_write(path, original)


def test_a_webhook_naming_another_user_cannot_hand_them_the_disconnect_button(make_sandbox, tmp_path):
    from pydantic import SecretStr

    from sandbox.webhooks import encode, sign

    sandbox = make_sandbox(users=0)
    settings = Settings(_env_file=None, data_dir=tmp_path, nango_url=sandbox.url, nango_secret_key=sandbox.secret_key,
                        nango_webhook_keys=[SecretStr("whk-dashboard-test")])
    appdb = AppDB.from_settings(settings)
    app = create_app(settings, appdb)
    for user_id in ("dana", "bert"):
        appdb.create_user(user_id, f"{user_id}@studio.example")
    dana, bert = app.test_client(), app.test_client()
    sign_in(dana, Accounts(appdb.engine), "dana")
    started = dana.post("/connections/asana/connect", data={"csrf_token": csrf(dana.get("/connections"))})
    token = re.search(r"session_token=([\w]+)", started.headers["Location"]).group(1)
    assert sandbox.nango.post("/connect/complete", data={"session_token": token, "integration": "asana"}).status_code == 200
    [connection] = sandbox.nango.get("/connections", params={"tags[end_user_id]": "dana"}).json()["connections"]

    def webhook(user_id: str):
        body = encode({"type": "auth", "operation": "creation", "success": True, "providerConfigKey": "asana",
                       "connectionId": connection["connection_id"], "tags": {"end_user_id": user_id}})
        return bert.post("/webhooks/nango", data=body,
                         headers={"Content-Type": "application/json", **sign(body, "whk-dashboard-test")})

    assert webhook("dana").status_code == 200
    assert webhook("bert").status_code == 409
    sign_in(bert, Accounts(appdb.engine), "bert")
    response = bert.post("/connections/asana/disconnect", data={"csrf_token": csrf(bert.get("/connections"))})
    assert response.status_code == 302
    assert "Asana is not connected" in bert.get("/connections").get_data(as_text=True)
    assert sandbox.nango.get("/connections", params={"tags[end_user_id]": "dana"}).json()["connections"] != []
    assert [(c.user_id, c.status) for c in appdb.connections()] == [("dana", "connected")]


def throttled_app(deployment, **limits):
    return create_app(deployment.settings.model_copy(update=limits), deployment.appdb)


def try_password(client, email: str, password: str, address: str = "192.0.2.10"):
    page = client.get("/login")
    return client.post("/login", data={"csrf_token": csrf(page), "email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def test_failed_passwords_are_throttled_per_account(deployment, accounts):
    user_id = deployment.users[1]
    email = f"{user_id}@studio.example"
    accounts.set_password(user_id, "correct horse battery")
    app = throttled_app(deployment, login_failures_per_account=3)
    client = app.test_client()
    assert [try_password(client, email, f"guess number {i}").status_code for i in range(3)] == [401] * 3
    refused = try_password(client, email.upper(), "correct horse battery")  # even the right one, for now
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 900
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    assert try_password(app.test_client(), email, "correct horse battery", address="192.0.2.99").status_code == 429
    other = deployment.users[2]
    accounts.set_password(other, "another long password")
    assert try_password(client, f"{other}@studio.example", "another long password").status_code == 303


def test_failed_passwords_are_throttled_per_address(deployment, accounts):
    user_id = deployment.users[0]
    accounts.set_password(user_id, "the right password")
    app = throttled_app(deployment, login_failures_per_address=4)
    client = app.test_client()
    statuses = [try_password(client, f"nobody{i}@studio.example", "whatever it is").status_code for i in range(5)]
    assert statuses == [401] * 4 + [429]
    assert try_password(client, f"{user_id}@studio.example", "the right password").status_code == 429
    assert try_password(client, f"{user_id}@studio.example", "the right password",
                        address="198.51.100.20").status_code == 303


def change_password(client, **form):
    page = client.get("/account/password")
    return client.post("/account/password", data={"csrf_token": csrf(page), **form})


def test_changing_the_password_needs_the_current_one_and_ends_other_sessions(deployment, accounts):
    user_id = deployment.users[0]
    accounts.set_password(user_id, "the old password")
    app = throttled_app(deployment)
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, accounts, user_id)
    sign_in(elsewhere, accounts, user_id)
    new = {"password": "a brand new password", "confirm": "a brand new password"}
    for current in ({}, {"current": "not the old one"}):
        refused = change_password(here, **current, **new)
        assert refused.status_code == 400 and "current password" in refused.get_data(as_text=True)
        assert accounts.authenticate(f"{user_id}@studio.example", "the old password") == user_id
    assert change_password(here, current="the old password", **new).status_code == 302
    assert accounts.authenticate(f"{user_id}@studio.example", "a brand new password") == user_id
    assert here.get("/connections").status_code == 200  # this session goes on
    assert elsewhere.get("/connections").status_code == 302  # every other one has ended


def test_a_first_password_needs_no_current_one(deployment, accounts, tmp_path):
    appdb = AppDB.from_settings(Settings(_env_file=None, data_dir=tmp_path))
    app = create_app(Settings(_env_file=None, data_dir=tmp_path), appdb)
    appdb.create_user("newcomer", "newcomer@studio.example")
    client = app.test_client()
    sign_in(client, Accounts(appdb.engine), "newcomer")
    page = client.get("/account/password").get_data(as_text=True)
    assert 'name="current"' not in page
    assert change_password(client, password="my first password", confirm="my first password").status_code == 302


def test_guessing_the_current_password_is_throttled_too(deployment, accounts):
    user_id = deployment.users[2]
    accounts.set_password(user_id, "the real password")
    app = throttled_app(deployment, login_failures_per_account=2)
    client = app.test_client()
    sign_in(client, accounts, user_id)
    new = {"password": "a brand new password", "confirm": "a brand new password"}
    assert [change_password(client, current=f"guess {i}", **new).status_code for i in range(3)] == [400, 400, 429]
    assert change_password(client, current="the real password", **new).status_code == 429


@pytest.mark.parametrize(("target", "location"), [
    ("/\r\n//evil.example", "/connections"), ("/\t/evil.example", "/connections"), ("/\\evil.example", "/connections"),
    ("/\\/evil.example", "/connections"), ("/ /evil.example", "/connections"),
    ("//[", "/connections"),
    ("/%0d%0a//evil.example", "/%0d%0a//evil.example"),  # encoded: a path on this site, harmless
    ("/activity?before=5", "/activity?before=5")])
def test_next_with_control_characters_or_backslashes_stays_on_the_site(app, accounts, deployment, target, location):
    accounts.set_password(deployment.users[2], "another long password")
    client = app.test_client()
    assert client.get("/login", query_string={"next": target}).status_code == 200
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf(page), "email": f"{deployment.users[2]}@studio.example",
                                           "password": "another long password", "next": target})
    assert response.status_code == 303 and response.headers["Location"] == location


@pytest.mark.postgres
@pytest.mark.parametrize(("path", "form"), [
    ("/agents/tokens", {"label": "laptop\x00"}), ("/agents/tokens/tok_\x00/revoke", {}),
    ("/agents/secret/sec_\x00/revoke", {}), ("/activity?before=1\x00", None), ("/login/\x00", None)],
    ids=["token label", "token id", "secret id", "query", "sign-in link"])
def test_a_nul_anywhere_is_a_400_page_not_a_500(tmp_path, postgres_database, path, form):
    settings = Settings(_env_file=None, data_dir=tmp_path, app_db_url=postgres_database)
    appdb = AppDB.from_settings(settings)
    app = create_app(settings, appdb)
    appdb.create_user("nadia", "nadia@studio.example")
    client = app.test_client()
    sign_in(client, Accounts(appdb.engine), "nadia")
    if form is None:
        response = client.get(path)
    else:
        response = client.post(path, data={"csrf_token": csrf(client.get("/agents")), **form})
    assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)
    assert appdb.tokens("nadia") == []
    appdb.close()


def test_with_redis_unreachable_sign_in_works_and_stays_throttled(deployment, accounts):
    user_id = deployment.users[1]
    accounts.set_password(user_id, "correct horse battery")
    app = throttled_app(deployment, redis_url="redis://127.0.0.1:1/0", login_failures_per_account=2)
    client = app.test_client()
    email = f"{user_id}@studio.example"
    assert try_password(client, email, "correct horse battery").status_code == 303
    guesser = app.test_client()
    assert [try_password(guesser, email, "wrong wrong wrong").status_code for _ in range(3)] == [401, 401, 429]
