"""Flask's signed-cookie session, with its signer built once per secret key.

Flask builds the session's URLSafeTimedSerializer anew in every open_session and
save_session (a few dozen calls each time, on every request, a Testpress webhook without any
cookie included). The serializer holds only its keys and settings, so one per
(SECRET_KEY, SECRET_KEY_FALLBACKS) serves every request; a changed key gets a new one.
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class PortalSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializers: dict[tuple, URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = self._serializers[keys] = super().get_signing_serializer(app)
        return serializer
