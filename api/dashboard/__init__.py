"""The studio owner's dashboard: sign in, connections, agent setup, context, activity.

Server-rendered pages (`templates/dashboard/`), a little JavaScript for copy buttons, every
asset served from here. Each page reads only the signed-in user's rows and files. One blueprint
(`dashboard`), its pages in one module each: `home` (what needs attention), `account` (sign-in,
password), `connections`, `agents` (agent setup), `consent` (an app asks to connect: OAuth),
`context_page` (the Context page), `permissions` (what agents may do, and approvals), `activity`.
"""

from api.dashboard import (account, activity, agents, connections, consent, context_page, home,  # noqa: F401 (routes)
                           permissions)
from api.dashboard.blueprint import bp

__all__ = ["bp"]
