"""`sylo users` and `sylo keys`: users, their API tokens and signing secrets, and the keyring at rest."""

from __future__ import annotations

from datetime import datetime

import click

from cli.common import appdb, clear_errors, keyring, settings as load_settings


def _check_user_id(_ctx, _param, value: str | None) -> str | None:
    from sylo.export_layout import USER_ID

    if value is not None and not USER_ID.fullmatch(value):
        raise click.BadParameter("use up to 100 letters, digits, _ or -, starting with a letter or digit")
    return value


def _user_id_from(email: str) -> str:
    """A readable, unlikely-to-collide id: the email's local part as a slug, plus a random suffix."""
    import re
    import secrets

    slug = re.sub(r"[^a-z0-9]+", "-", email.split("@", 1)[0].lower()).strip("-")[:40] or "user"
    return f"{slug}-{secrets.token_hex(3)}"


def _show_once(values: dict[str, str], as_json: bool, lines: list[str]) -> None:
    if as_json:
        import json

        click.echo(json.dumps(values))
        return
    click.echo("\n".join(lines))
    click.echo("Shown only this once: Sylo keeps just a hash or an encrypted copy. Store it safely now.")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"


@click.group("users")
def users_group() -> None:
    """Create users and manage their API tokens and signing secrets."""


@users_group.command("create")
@click.option("--email", required=True, help="The user's email address (unique).")
@click.option("--id", "user_id", callback=_check_user_id, help="User id; default: from the email plus a random suffix.")
@click.option("--name", default=None, help="Display name.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@clear_errors
def users_create(email: str, user_id: str | None, name: str | None, as_json: bool) -> None:
    """Create a user with an API token and a signing secret, each shown once."""
    if "@" not in email.strip("@"):
        raise click.BadParameter(f"not an email address: {email!r}", param_hint="--email")
    settings = load_settings()
    ring = keyring(settings)
    with appdb(settings) as db:
        made = db.create_user_with_credentials(user_id or _user_id_from(email), email, ring, name)
    _show_once({"user_id": made.user.id, "email": email, "api_token": made.api_token, "token_id": made.token.id,
                "signing_secret": made.signing_secret, "secret_id": made.secret.id}, as_json,
               [f"Created user {made.user.id} ({email}).",
                f"API token {made.token.id}:       {made.api_token}",
                f"Signing secret {made.secret.id}:  {made.signing_secret}"])


def _check_kinds(_ctx, _param, value: str | None) -> tuple[str, ...] | None:
    from sylo import read_kinds

    if value is None:
        return None
    try:
        chosen = read_kinds.checked(value.replace(",", " ").split())
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    if not chosen:
        raise click.BadParameter(f"name at least one of {', '.join(read_kinds.PARTS)}")
    return chosen


@users_group.command("token")
@click.argument("user_id")
@click.option("--label", default=None, help="What the token is for, such as the agent that uses it.")
@click.option("--kinds", callback=_check_kinds, metavar="KIND[,KIND...]",
              help="The only document kinds it may read (projects, communications, tasks, financials); "
                   "default every kind. The all briefing needs every kind.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
@clear_errors
def users_token(user_id: str, label: str | None, kinds: tuple[str, ...] | None, as_json: bool) -> None:
    """Issue a new API token for a user, shown once."""
    from sylo import read_kinds

    with appdb(load_settings()) as db:
        info, token = db.issue_token(user_id, label, kinds=kinds)
    _show_once({"user_id": user_id, "api_token": token, "token_id": info.id, "kinds": list(info.kinds)}, as_json,
               [f"API token {info.id} for {user_id}: {token}",
                f"It may read {read_kinds.describe(info.kinds)}."])


@users_group.command("tokens")
@click.argument("user_id")
@clear_errors
def users_tokens(user_id: str) -> None:
    """List a user's API tokens (ids, what each may read, labels; tokens themselves are never stored)."""
    from sylo import read_kinds

    with appdb(load_settings()) as db:
        if db.get_user(user_id) is None:
            raise click.ClickException(f"no user with id {user_id!r}")
        tokens = db.tokens(user_id)
    for token in tokens:
        state = f"revoked {_when(token.revoked_at)}" if token.revoked_at else "live"
        reads = "reads " + (",".join(token.kinds) if token.kinds != read_kinds.PARTS else "every kind")
        click.echo(f"{token.id}  created {_when(token.created_at)}  {state}  {reads}  {token.label or ''}".rstrip())
    if not tokens:
        click.echo(f"{user_id} has no API tokens; issue one with `sylo users token {user_id}`.")


@users_group.command("revoke-token")
@click.argument("token_id")
@clear_errors
def users_revoke_token(token_id: str) -> None:
    """Revoke an API token: requests carrying it are refused from now on."""
    with appdb(load_settings()) as db:
        if not db.revoke_token(token_id):
            raise click.ClickException(f"no live API token with id {token_id!r}")
    click.echo(f"Revoked {token_id}.")


@users_group.command("secret")
@click.argument("user_id")
@click.option("--rotate", is_flag=True, help="Issue a new signing secret; the current ones expire after the grace.")
@click.option("--grace-hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
              help="How long the previous secrets keep verifying after --rotate.")
@click.option("--json", "as_json", is_flag=True, help="With --rotate: print one JSON object instead of text.")
@clear_errors
def users_secret(user_id: str, rotate: bool, grace_hours: float, as_json: bool) -> None:
    """Show a user's signing secrets (ids and validity only), or rotate them with --rotate."""
    from datetime import timedelta

    settings = load_settings()
    with appdb(settings) as db:
        if not rotate:
            if db.get_user(user_id) is None:
                raise click.ClickException(f"no user with id {user_id!r}")
            for info in db.signing_secret_infos(user_id):
                state = (f"revoked {_when(info.revoked_at)}" if info.revoked_at
                         else f"expires {_when(info.expires_at)}" if info.expires_at else "live")
                click.echo(f"{info.id}  created {_when(info.created_at)}  {state}  key {info.key_id}")
            return
        info, secret = db.rotate_signing_secret(user_id, keyring(settings),
                                                   timedelta(hours=grace_hours))
    _show_once({"user_id": user_id, "signing_secret": secret, "secret_id": info.id}, as_json,
               [f"Signing secret {info.id} for {user_id}: {secret}",
                f"Previous secrets keep verifying for {grace_hours:g} hour(s)."])


@users_group.command("policy")
@click.argument("user_id")
@click.argument("action", required=False)
@click.argument("setting", required=False)
@clear_errors
def users_policy(user_id: str, action: str | None, setting: str | None) -> None:
    """List what a user's agents may do per action, or set one: ACTION allow|ask|deny.

    allow: sent at once; ask: held until the owner approves it on the dashboard; deny: refused."""
    from sylo.commands.catalog import CATALOG
    from sylo.commands.policy import SETTINGS, Policies, UnknownUser

    if action is not None and action not in CATALOG:
        raise click.BadParameter(f"no action {action!r}; one of: {', '.join(CATALOG)}", param_hint="ACTION")
    if action is not None and setting is None:
        raise click.UsageError(f"give the setting too: sylo users policy {user_id} {action} allow|ask|deny")
    if setting is not None and setting not in SETTINGS:
        raise click.BadParameter(f"{setting!r} is not a setting; use allow, ask or deny", param_hint="SETTING")
    with appdb(load_settings()) as db:
        if db.get_user(user_id) is None:
            raise click.ClickException(f"no user {user_id!r}; `sylo users list` shows them")
        policies = Policies(db.engine)
        if action is not None:
            try:
                choice = policies.set(user_id, action, setting, by="cli")
            except UnknownUser:
                raise click.ClickException(f"no user {user_id!r}; `sylo users list` shows them") from None
            click.echo(f"{user_id}: {action} is now {choice.setting}" + (" (the default)." if choice.default else "."))
            return
        choices = policies.choices(user_id)
    width = max(len(name) for name in CATALOG)
    for choice in choices:
        click.echo(f"{choice.action:<{width}}  {choice.setting:<5}  {'default' if choice.default else 'set'}")


@users_group.command("list")
def users_list() -> None:
    """List users."""
    with appdb(load_settings()) as db:
        found = db.list_users()
    for user in found:
        click.echo(f"{user.id}  {user.email or '-'}  {user.display_name or ''}".rstrip())
    if not found:
        click.echo("No users yet; create one with `sylo users create --email ...`.")


@users_group.command("login-link")
@click.argument("user_id")
@click.option("--minutes", type=click.FloatRange(min=1, max=7 * 24 * 60), default=30, show_default=True,
              help="How long the link stays valid.")
@clear_errors
def users_login_link(user_id: str, minutes: float) -> None:
    """Print a one-time dashboard sign-in link for a user (their first visit, or a lost password)."""
    from sylo.accounts import Accounts

    settings = load_settings()
    with appdb(settings) as db:
        if db.get_user(user_id) is None:
            raise click.ClickException(f"no user {user_id!r}; `sylo users list` shows them")
        token = Accounts(db.engine).create_login_link(user_id, minutes)
    click.echo(f"{settings.public_url.rstrip('/')}/login/{token}")
    click.echo(f"(valid once, for {minutes:g} minutes)", err=True)


@click.group("keys")
def keys_group() -> None:
    """Manage the keyring that encrypts secrets at rest (SYLO_ENCRYPTION_KEYS)."""


@keys_group.command("generate")
@click.option("--id", "key_id", default=None, help="Key id (1-32 of A-Z a-z 0-9 _ -); default: k<date>-<random>.")
@clear_errors
def keys_generate(key_id: str | None) -> None:
    """Print a new keyring entry to prepend to SYLO_ENCRYPTION_KEYS."""
    from sylo.keyring import generate_entry

    click.echo(generate_entry(key_id))
    click.echo("Prepend it to SYLO_ENCRYPTION_KEYS (newest first), restart Sylo, then run `sylo keys reencrypt`.",
               err=True)


@keys_group.command("reencrypt")
@clear_errors
def keys_reencrypt() -> None:
    """Re-encrypt every stored secret under the newest key, so older keys can be removed."""
    settings = load_settings()
    ring = keyring(settings)
    with appdb(settings) as db:
        moved = db.reencrypt(ring)
    click.echo(f"Re-encrypted {moved} secret(s); everything is now under key {ring.current_key_id!r}.")
    if len(ring.key_ids) > 1:
        click.echo(f"Keys {', '.join(repr(k) for k in ring.key_ids[1:])} can now be removed "
                   "from SYLO_ENCRYPTION_KEYS.")


