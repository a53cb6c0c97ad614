"""Read by `gunicorn 'api:create_app()'` when started from the repository root; see sylo/gunicorn_conf.py."""

from sylo.gunicorn_conf import *  # noqa: F401,F403
