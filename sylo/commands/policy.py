"""What the studio owner lets agents do, per action: allow, ask (hold for approval) or deny.

The default follows from the catalog: an action that reaches outside the studio (mail to a
client, a reminder, a public post, a paid video) asks; drafts, tasks and comments, which stay
inside the studio's own tools, are allowed. Only the owner's choices that differ from the
default are stored, so a user who never changed anything follows the defaults as they evolve.
Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from sylo.appdb.schema import action_policies, audit_log, users
from sylo.clock import utc_now
from sylo.commands.catalog import CATALOG, Action

SETTINGS = ("allow", "ask", "deny")
# How the owner reads each setting, on the dashboard and in the audit trail.
WORDS = {"allow": "Allow", "ask": "Ask me first", "deny": "Never"}
# Built once: every command reads it, and building a statement cost more than running it.
_SETTING = select(action_policies.c.setting).where(action_policies.c.user_id == bindparam("user_id"),
                                                   action_policies.c.action == bindparam("action"))


def default_setting(action: Action) -> str:
    return "ask" if action.reaches_outside else "allow"


DEFAULTS: dict[str, str] = {name: default_setting(action) for name, action in CATALOG.items()}


class UnknownAction(LookupError):
    pass


class UnknownSetting(ValueError):
    pass


class UnknownUser(LookupError):
    pass


@dataclass(frozen=True)
class Choice:
    """One action's setting for one user, and whether it is the default."""

    action: str
    setting: str

    @property
    def default(self) -> bool:
        return DEFAULTS[self.action] == self.setting

    @property
    def words(self) -> str:
        return WORDS[self.setting]


class Policies:
    """Reads and sets users' per-action settings in the app DB."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def setting(self, user_id: str, action: str) -> str:
        """The setting that applies to `action` for `user_id` (one primary-key lookup)."""
        with self.engine.connect() as conn:
            stored = conn.execute(_SETTING, {"user_id": user_id, "action": action}).scalar()
        return stored if stored in SETTINGS else DEFAULTS[action]

    def choices(self, user_id: str) -> list[Choice]:
        """Every catalog action with its setting, in catalog order."""
        with self.engine.connect() as conn:
            stored = dict(conn.execute(select(action_policies.c.action, action_policies.c.setting)
                                       .where(action_policies.c.user_id == user_id)).all())
        return [Choice(name, stored[name] if stored.get(name) in SETTINGS else DEFAULTS[name]) for name in CATALOG]

    def denied(self, user_id: str) -> set[str]:
        """The actions `user_id`'s agents may not send at all."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(action_policies.c.action).where(
                action_policies.c.user_id == user_id, action_policies.c.setting == "deny")).scalars())

    def set(self, user_id: str, action: str, setting: str, *, by: str) -> Choice:
        """Set one action's setting (`by`: where the owner did it, e.g. "the dashboard"); audited."""
        if action not in CATALOG:
            raise UnknownAction(action)
        if setting not in SETTINGS:
            raise UnknownSetting(setting)
        at = utc_now()
        with self.engine.begin() as conn:
            if conn.execute(select(users.c.id).where(users.c.id == user_id)).first() is None:
                raise UnknownUser(user_id)
            before = conn.execute(select(action_policies.c.setting).where(
                action_policies.c.user_id == user_id, action_policies.c.action == action)).scalar() or DEFAULTS[action]
            if setting == DEFAULTS[action]:
                conn.execute(delete(action_policies).where(action_policies.c.user_id == user_id,
                                                           action_policies.c.action == action))
            else:
                conn.execute(_upsert(conn.dialect.name, user_id, action, setting, at))
            if before != setting:
                conn.execute(insert(audit_log).values(
                    user_id=user_id, kind="policy.changed", outcome="ok", action=action, source=by[:20],
                    detail=f"{WORDS[before]} → {WORDS[setting]}", created_at=at))
        return Choice(action, setting)


def _upsert(dialect: str, user_id: str, action: str, setting: str, at):
    """Insert or replace one stored choice, in one statement (two owners' tabs may race)."""
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(action_policies).values(user_id=user_id, action=action, setting=setting, updated_at=at)
    return statement.on_conflict_do_update(index_elements=["user_id", "action"],
                                           set_={"setting": setting, "updated_at": at})
