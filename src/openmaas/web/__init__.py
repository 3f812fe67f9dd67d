"""The web console at /console: server-rendered pages, small JS modules, the console API.

`install_console(app)` adds it to an app built by `create_app`. Pages call the platform API
(`/api/platform/...`, cookie session + CSRF header) and, for the wire endpoints that take API
keys, the cookie-authenticated routes of `console_api.py`, which call the same services as the
API's routes, with the same query models and answers.
"""

from openmaas.web.console import install_console

__all__ = ["install_console"]
