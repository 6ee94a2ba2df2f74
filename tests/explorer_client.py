"""A Flask test client that acts like the explorer's page: it keeps the token of each
session it creates and sends it on every call to that session."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from backprop_lab.explorer.server import TOKEN_HEADER

_SESSION_PATH = re.compile(r"/api/session/([^/?]+)")


class TokenClient(FlaskClient):
    """Remembers ``token`` from each ``POST /api/session`` reply and presents it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tokens: dict[str, str] = {}

    def open(self, *args, **kwargs):
        path = kwargs.get("path") or (args[0] if args and isinstance(args[0], str) else "")
        match = _SESSION_PATH.match(path)
        if match and match.group(1) in self.tokens:
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault(TOKEN_HEADER, self.tokens[match.group(1)])
            kwargs["headers"] = headers
        reply = super().open(*args, **kwargs)
        if path == "/api/session" and reply.status_code == 201:
            payload = reply.get_json()
            self.tokens[payload["session"]] = payload["token"]
        return reply


def with_tokens(app: Flask) -> Flask:
    """The app, whose ``test_client()`` is now a :class:`TokenClient`."""
    app.test_client_class = TokenClient
    return app
