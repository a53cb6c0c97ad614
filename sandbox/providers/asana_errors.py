"""Asana's error answers, shared by its endpoints (reference/providers.md §2.6).

`{"errors": [{"message", "help"?, "phrase"?}]}`: `help` on client errors, `phrase` on 500s,
`Retry-After` on 429.
"""

from __future__ import annotations

from sandbox.http import Reply

HELP = ("For more information on API status codes and how to handle them, "
        "read the docs on errors: https://developers.asana.com/docs/errors")
RATE_LIMIT_MESSAGE = "You've made too many requests and hit a rate limit. Please retry after the given amount of time."


class AsanaError(Exception):
    def __init__(self, status: int, message: str, **extra: object):
        super().__init__(message)
        error = {"message": message, **extra}
        if status < 500:
            error.setdefault("help", HELP)
        self.reply = Reply(status, {"errors": [error]})


def unknown(gid: str) -> AsanaError:
    return AsanaError(404, f"Unknown object: {gid}")


def rate_limited(seconds: int) -> Reply:
    return Reply(429, {"errors": [{"message": RATE_LIMIT_MESSAGE}]}, {"Retry-After": str(seconds)})


def server_error() -> Reply:
    return Reply(500, {"errors": [{"message": "Server Error", "phrase": "6 sad squid snuggle softly"}]})
