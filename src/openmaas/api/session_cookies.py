"""The console's cookies: an HttpOnly session cookie and a readable CSRF cookie (double submit)."""

from __future__ import annotations

import math

from starlette.responses import Response

from openmaas.auth.console_sessions import OpenedSession
from openmaas.store.tables import utcnow

SESSION_COOKIE = "openmaas_session"
CSRF_COOKIE = "openmaas_csrf"
CSRF_HEADER = "X-CSRF-Token"


def set_session_cookies(response: Response, opened: OpenedSession, secure: bool) -> None:
    max_age = max(0, math.ceil((opened.expires_at - utcnow()).total_seconds()))
    response.set_cookie(
        SESSION_COOKIE, opened.token, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )
    # Readable by the console's script, which echoes it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE,
        opened.csrf_token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=False,
        samesite="lax",
    )


def clear_session_cookies(response: Response, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="lax")
