"""Dashboard accounts: scrypt passwords, server-side sessions with CSRF tokens, one-time sign-in links.

Sessions live in the app DB, keyed by the SHA-256 of the cookie's random token, so signing out
(or an expiry) ends a session everywhere at once and a leaked database holds no usable cookie.
Sign-in links are single-use: the UPDATE that spends one checks it is unused and unexpired in
its own WHERE, so two clicks cannot both sign in.

Wrong passwords are counted per account and per client address over 15 minutes (`SignInGuard`);
past either limit every attempt is refused before any hash is computed, the right password
included, until the window moves on. A sign-in link still works for a throttled account.
Changing a password takes the current one and ends every other session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update

from sylo.appdb.schema import login_links, users, web_sessions
from sylo.throttle import Throttle
from sylo.clock import utc_now as now

SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB and tens of ms per hash: slow for guessing, fine for sign-in
MIN_PASSWORD = 10
_DUMMY = None


class TooManyAttempts(Exception):
    """Too many wrong passwords for this account or from this address; try again after `retry_after` s."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


class WrongPassword(ValueError):
    """The current password given to change it is not the account's."""


class SignInGuard:
    """Wrong passwords per account and per client address, in 15-minute moving windows.

    The account is keyed by a digest of the email as typed (lowercased), known or not, so the
    count cannot tell an attacker which emails exist and Redis never holds an address book."""

    def __init__(self, per_account: int = 10, per_address: int = 50, redis_url: str | None = None):
        self.account = Throttle("sign-in-account", f"{per_account}/15 minutes", redis_url)
        self.address = Throttle("sign-in-address", f"{per_address}/15 minutes", redis_url)

    def check(self, email: str, address: str) -> None:
        waits = [wait for wait in (self.account.blocked(account_key(email)), self.address.blocked(address)) if wait]
        if waits:
            raise TooManyAttempts(max(waits))

    def failed(self, email: str, address: str) -> None:
        self.account.hit(account_key(email))
        self.address.hit(address)


def _storable_email(email: str) -> bool:
    """Could this be a stored email? Postgres refuses NUL in a query, and the column holds 320 characters."""
    return 0 < len(email) <= 320 and "\x00" not in email


def account_key(email: str) -> str:
    return digest(email.strip().lower())


@dataclass(frozen=True)
class Session:
    user_id: str
    csrf_token: str
    expires_at: datetime


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
    def __init__(self, engine: Engine, session_hours: float = 12.0, guard: SignInGuard | None = None):
        self.engine = engine
        self.session_ttl = timedelta(hours=session_hours)
        self.guard = guard or SignInGuard()

    def set_password(self, user_id: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise ValueError(f"use at least {MIN_PASSWORD} characters")
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.id == user_id).values(password_hash=hash_password(password)))

    def has_password(self, user_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(users.c.password_hash).where(users.c.id == user_id)).scalar() is not None

    def authenticate(self, email: str, password: str, address: str = "unknown") -> str | None:
        """The user id for this email and password; TooManyAttempts while the account or address is throttled.

        Unknown emails cost the same hash as known ones, and count against the limits the same way."""
        self.guard.check(email, address)
        user_id = self._verify(email, password)
        if user_id is None:
            self.guard.failed(email, address)
        return user_id

    def change_password(self, user_id: str, current: str | None, new: str, keep_session: str | None,
                        address: str = "unknown") -> None:
        """Set a new password, checking the current one if there is one; every other session ends."""
        email = self._email(user_id)
        if self.has_password(user_id):
            self.guard.check(email, address)
            if self._verify(email, current or "", user_id=user_id) is None:
                self.guard.failed(email, address)
                raise WrongPassword("the current password is not right")
        self.set_password(user_id, new)
        self.end_other_sessions(user_id, keep_session)

    def _verify(self, email: str, password: str, user_id: str | None = None) -> str | None:
        global _DUMMY
        row = None
        if user_id is not None or _storable_email(email):
            match = users.c.id == user_id if user_id is not None else func.lower(users.c.email) == email.strip().lower()
            with self.engine.connect() as conn:
                row = conn.execute(select(users.c.id, users.c.password_hash).where(match)).first()
        if row is None or row.password_hash is None:
            _DUMMY = _DUMMY or hash_password(secrets.token_hex(8))
            check_password(password, _DUMMY)
            return None
        return row.id if check_password(password, row.password_hash) else None

    def _email(self, user_id: str) -> str:
        """The account key's source: the email when there is one (as sign-in counts it), else the id."""
        with self.engine.connect() as conn:
            email = conn.execute(select(users.c.email).where(users.c.id == user_id)).scalar()
        return email or f"id:{user_id}"

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

    def end_other_sessions(self, user_id: str, keep: str | None) -> int:
        """End every session of `user_id` but the one whose cookie token is `keep`."""
        query = update(web_sessions).where(web_sessions.c.user_id == user_id, web_sessions.c.revoked_at.is_(None))
        if keep:
            query = query.where(web_sessions.c.id != digest(keep))
        with self.engine.begin() as conn:
            return conn.execute(query.values(revoked_at=now())).rowcount

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
