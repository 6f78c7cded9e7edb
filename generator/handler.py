"""Entry point for WSGI servers: ``gunicorn generator.handler:app`` (the code lives in ``web/``)."""

from generator.web.wsgi import app, create_app, hash_token

__all__ = ["app", "create_app", "hash_token"]
