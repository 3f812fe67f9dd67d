"""Wires the console into an app: page routes, console API routes, static assets, templates."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from openmaas.web import account_api, activity_api, console_api, pages, playground_api, work_api

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"
STATIC_PREFIX = "/console/static"


def build_templates() -> Jinja2Templates:
    """Autoescaping Jinja2 environment for the console's pages (one per app, no globals)."""
    templates = Jinja2Templates(directory=WEB_DIR / "templates")
    templates.env.autoescape = True
    return templates


def install_console(app: FastAPI) -> None:
    app.state.console_templates = build_templates()
    app.include_router(console_api.router)
    app.include_router(activity_api.router)
    app.include_router(account_api.router)
    app.include_router(work_api.router)
    app.include_router(playground_api.router)
    app.include_router(pages.router)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="console-static")
