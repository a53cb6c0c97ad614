"""Dashboard accounts: scrypt passwords, server-side sessions with CSRF tokens, one-time sign-in links.

Sessions live in the app DB, keyed by the SHA-256 of the cookie's random token, so signing out
(or an expiry) ends a session everywhere at once and a leaked database holds no usable cookie.
Sign-in links are single-use: the UPDATE that spends one checks it is unused and unexpired in
its own WHERE, so two clicks cannot both sign in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, func, insert, select, update

from sylo.appdb.schema import login_links, users, web_sessions

SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and tens of ms per hash: slow for guessing, fine for sign-in
MIN_PASSWORD = 10
_DUMMY = None


@dataclass(frozen=True)
class Session:
    user_id: str
    csrf_token: str
    expires_at: datetime


def now() -> datetime:
    return datetime.now(timezone.utc)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, dklen=32, maxmem=64 * 1024 * 1024, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${key.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                   dklen=len(key) // 2, maxmem=64 * 1024 * 1024)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(candidate.hex(), key)


class Accounts:
    def __init__(self, engine: Engine, session_hours: float = 12.0):
        self.engine = engine
        self.session_ttl = timedelta(hours=session_hours)

    def set_password(self, user_id: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"use at least {MIN_PASSWORD} characters")
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=hash_password(password)))

    def has_password(self, user_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar() is not None

    def authenticate(self, email: str, password: str) -> str | None:
        """The user id for this email and password; unknown emails cost the same hash as known ones."""
        global _DUMMY
        with self.engine.connect() as conn:
            row = conn.execute(select(users.c.id, users.c.password_hash)
                               .where(func.lower(users.c.email) == email.strip().lower())).first()
        if row is None or row.password_hash is None:
            _DUMMY = _DUMMY or hash_password(secrets.token_hex(8))
            check_password(password, _DUMMY)
            return None
        return row.id if check_password(password, row.password_hash) else None

    def start_session(self, user_id: str) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(user_id, secrets.token_urlsafe(32), now() + self.session_ttl)
        with self.engine.begin() as conn:
            conn.execute(insert(web_sessions).values(id=digest(token), user_id=user_id, csrf_token=session.csrf_token,
                                                     created_at=now(), expires_at=session.expires_at))
        return token, session

    def session(self, token: str | None) -> Session | None:
        if not token:
            return None
        query = (select(web_sessions.c.user_id, web_sessions.c.csrf_token, web_sessions.c.expires_at)
                 .where(web_sessions.c.id == digest(token), web_sessions.c.revoked_at.is_(None),
                        web_sessions.c.expires_at > now()))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return Session(row.user_id, row.csrf_token, row.expires_at) if row else None

    def end_session(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(web_sessions).where(web_sessions.c.id == digest(token)).values(revoked_at=now()))

    def expire_session(self, token: str) -> None:
        """End a session as if its time had run out (tests, and an operator's kill switch)."""
        with self.engine.begin() as conn:
            conn.execute(update(web_sessions).where(web_sessions.c.id == digest(token))
                         .values(expires_at=now() - timedelta(seconds=1)))

    def create_login_link(self, user_id: str, minutes: float = 30) -> str:
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(insert(login_links).values(id=digest(token), user_id=user_id, created_at=now(),
                                                    expires_at=now() + timedelta(minutes=minutes)))
        return token

    def link_is_valid(self, token: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(login_links.c.user_id).where(
                login_links.c.id == digest(token), login_links.c.used_at.is_(None),
                login_links.c.expires_at > now())).first() is not None

    def use_login_link(self, token: str) -> str | None:
        """Spend a sign-in link once; the user id, or None when unknown, used or expired."""
        at = now()
        spend = (update(login_links).where(login_links.c.id == digest(token), login_links.c.used_at.is_(None),
                                           login_links.c.expires_at > at)
                 .values(used_at=at).returning(login_links.c.user_id))
        with self.engine.begin() as conn:
            row = conn.execute(spend).first()
        return row.user_id if row else None
