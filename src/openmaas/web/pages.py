"""The console's pages: one server-rendered shell per page; its JS module fetches the data.

Signed-out visitors are sent to /console/login (with `next`); a page of the admin area is a
404 for everyone else. `?lang=zh|en` switches the language and remembers it in a cookie.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from openmaas import __version__
from openmaas.accounts.views import AccountView
from openmaas.api.deps import ServicesDep
from openmaas.api.routing import OffLoopJSONRoute
from openmaas.api.session_cookies import SESSION_COOKIE
from openmaas.errors import AuthError
from openmaas.web.i18n import LANG_COOKIE, js_strings, pick_language, translator

router = APIRouter(route_class=OffLoopJSONRoute, prefix="/console", include_in_schema=False)

# Scripts, styles, API calls, images and audio from this origin only (blob: for the playground's
# generated speech); no inline script or style.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Page:
    slug: str
    admin_only: bool = False
    charts: bool = False  # loads the chart library


PAGES = {
    p.slug: p
    for p in (
        Page("overview", charts=True),
        Page("playground"),
        Page("models"),
        Page("keys"),
        Page("knowledge"),
        Page("fine-tuning", charts=True),
        Page("finance"),
        Page("transactions"),
        Page("requests"),
        Page("files"),
        Page("batches"),
        Page("async-results"),
        Page("assistants"),
        Page("verification"),
        Page("account"),
        Page("admin", admin_only=True),
    )
}


def nav_for(account: AccountView) -> list[str]:
    return [slug for slug, page in PAGES.items() if account.is_admin or not page.admin_only]


def signed_in_account(request: Request, services) -> AccountView | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        found = services.accounts.sessions.authenticate(token)
    except AuthError:
        return None
    return services.accounts.directory.profile(found.principal.account_id)


def render(request: Request, template: str, page: str, account: AccountView | None) -> Response:
    lang = pick_language(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
    context = {
        "page": page,
        "lang": lang,
        "t": translator(lang),
        "account": account,
        "nav": nav_for(account) if account else [],
        "version": __version__,
        "charts": page in PAGES and PAGES[page].charts,
        "js_strings": js_strings(lang, page),
    }
    response = request.app.state.console_templates.TemplateResponse(
        request, template, context, headers=SECURITY_HEADERS
    )
    if request.query_params.get("lang") == lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/", samesite="lax")
    return response


def login_redirect(request: Request) -> RedirectResponse:
    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""), safe="")
    return RedirectResponse(f"/console/login?next={target}", status_code=303)


@router.get("", response_model=None, response_class=RedirectResponse)
def console_root() -> RedirectResponse:
    return RedirectResponse("/console/overview", status_code=303)


@router.get("/login", response_model=None, response_class=HTMLResponse)
def login_page(request: Request, services: ServicesDep) -> Response:
    if signed_in_account(request, services) is not None:
        return RedirectResponse("/console/overview", status_code=303)
    return render(request, "login.html", "login", None)


@router.get("/{slug}", response_model=None, response_class=HTMLResponse)
def console_page(slug: str, request: Request, services: ServicesDep) -> Response:
    page = PAGES.get(slug)
    account = signed_in_account(request, services)
    if account is None and page is not None:
        return login_redirect(request)
    if page is None or account is None or (page.admin_only and not account.is_admin):
        response = render(request, "not_found.html", "not_found", account)
        response.status_code = 404
        return response
    return render(request, f"{slug}.html", slug, account)
