"""Per-action permissions: defaults that follow the catalog, only the owner's changes stored, every
change audited, on SQLite and Postgres; `sylo users policy` lists and sets them with clear errors;
the outbox's approvals apply once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sylo.appdb import AppDB
from sylo.appdb.schema import action_policies, audit_log
from sylo.clock import utc_now
from sylo.commands.catalog import CATALOG
from sylo.commands.outbox import Outbox
from sylo.commands.policy import DEFAULTS, Policies, UnknownAction, UnknownSetting, UnknownUser
from tests.sylo.test_users_cli import sylo  # noqa: F401 (a fixture)

ALLOWED = {"asana.comment", "asana.create_task", "asana.complete_task", "gmail.draft_reply",
           "xero.create_draft_invoice"}
ASKED = {"gmail.send_email", "xero.send_invoice_reminder", "meta.publish_post", "veo.generate_video"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def appdb(request, tmp_path):
    db = AppDB(request.getfixturevalue("postgres_database") if request.param == "postgres"
               else f"sqlite:///{tmp_path / 'app.db'}")
    db.migrate()
    db.create_user("ann")
    yield db
    db.close()


def test_every_action_has_a_default_that_follows_whether_it_reaches_outside():
    assert set(DEFAULTS) == set(CATALOG)
    assert {a for a, s in DEFAULTS.items() if s == "allow"} == ALLOWED
    assert {a for a, s in DEFAULTS.items() if s == "ask"} == ASKED
    assert all((DEFAULTS[name] == "ask") == action.reaches_outside for name, action in CATALOG.items())


def test_only_changes_from_the_default_are_stored_and_each_is_audited(appdb):
    policies = Policies(appdb.engine)
    assert [(c.action, c.setting, c.default) for c in policies.choices("ann")] == \
        [(name, DEFAULTS[name], True) for name in CATALOG]
    policies.set("ann", "gmail.send_email", "allow", by="cli")
    policies.set("ann", "asana.comment", "deny", by="dashboard")
    policies.set("ann", "asana.comment", "deny", by="dashboard")  # unchanged: no second audit entry
    assert policies.setting("ann", "gmail.send_email") == "allow" and policies.denied("ann") == {"asana.comment"}
    policies.set("ann", "gmail.send_email", "ask", by="cli")  # back to the default: the row goes
    with appdb.engine.connect() as conn:
        assert conn.execute(select(action_policies.c.action)).scalars().all() == ["asana.comment"]
        changes = conn.execute(select(audit_log.c.action, audit_log.c.detail, audit_log.c.source)
                               .where(audit_log.c.kind == "policy.changed").order_by(audit_log.c.id)).all()
    assert changes == [("gmail.send_email", "Ask me first → Allow", "cli"), ("asana.comment", "Allow → Never", "dashboard"),
                       ("gmail.send_email", "Allow → Ask me first", "cli")]
    assert Policies(appdb.engine).denied("someone-else") == set()


def test_unknown_actions_settings_and_users_are_refused(appdb):
    policies = Policies(appdb.engine)
    with pytest.raises(UnknownAction):
        policies.set("ann", "gmail.delete_everything", "allow", by="cli")
    with pytest.raises(UnknownSetting):
        policies.set("ann", "gmail.send_email", "maybe", by="cli")
    with pytest.raises(UnknownUser):
        policies.set("nobody", "gmail.send_email", "allow", by="cli")


def test_of_racing_approvals_exactly_one_applies(appdb):
    outbox = Outbox(appdb.engine)
    command, _ = outbox.accept(user_id="ann", message_id="m1", action="gmail.send_email",
                                params={"to": ["a@b.example"]}, source="http", hold=True)
    assert command.status == "awaiting_approval" and outbox.claim(10, timedelta(minutes=1)) == []
    asked_after = utc_now() - timedelta(hours=72)
    with ThreadPoolExecutor(8) as pool:
        decisions = list(pool.map(lambda i: outbox.approve(command.id, "ann", by=f"tab {i}", asked_after=asked_after),
                                  range(8)))
    assert sum(d.applied for d in decisions) == 1
    assert outbox.decline(command.id, "ann", by="ann", asked_after=asked_after).applied is False
    [claimed] = outbox.claim(10, timedelta(minutes=1))
    assert claimed.id == command.id and claimed.decided_at is not None
    with appdb.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(audit_log.c.kind == "command.approved")).scalar() == 1


def test_the_cli_lists_and_sets_a_users_policy(sylo):  # noqa: F811 (the fixture)
    made = sylo.json("users", "create", "--email", "ann@example.com")
    user_id = made["user_id"]
    listed = sylo("users", "policy", user_id)
    assert listed.exit_code == 0
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows == [[name, DEFAULTS[name], "default"] for name in CATALOG]
    changed = sylo("users", "policy", user_id, "gmail.send_email", "deny")
    assert changed.exit_code == 0 and changed.stdout.strip() == f"{user_id}: gmail.send_email is now deny."
    assert ["gmail.send_email", "deny", "set"] in [line.split() for line in sylo("users", "policy", user_id).stdout
                                                   .splitlines()]
    back = sylo("users", "policy", user_id, "gmail.send_email", "ask")
    assert "now ask (the default)" in back.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["nobody"], "no user 'nobody'"),
    (["{user}", "gmail.delete_everything", "allow"], "no action 'gmail.delete_everything'"),
    (["{user}", "gmail.send_email", "maybe"], "'maybe' is not a setting; use allow, ask or deny"),
    (["{user}", "gmail.send_email"], "give the setting too"),
])
def test_the_cli_says_what_is_wrong(sylo, args, message):  # noqa: F811 (the fixture)
    user_id = sylo.json("users", "create", "--email", "ann@example.com")["user_id"]
    result = sylo("users", "policy", *[a.format(user=user_id) for a in args])
    assert result.exit_code != 0 and message in result.output
