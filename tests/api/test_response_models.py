"""Every route says what it answers: a `response_model`, or (bytes, HTML, redirects) an
explicit `response_model=None` with the response class it sends. `/openapi.json` then
describes every answer. That the answers match their models: `-p tests.answer_conformance`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from openmaas.app import create_app


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """The app's routes, through included routers (kept whole by newer FastAPI) and mounts."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from api_routes(router.routes)
        elif isinstance(inner := getattr(route, "routes", None), list):
            yield from api_routes(inner)


def test_every_route_declares_its_answer(make_settings):
    routes = list(api_routes(create_app(make_settings()).routes))
    undeclared = [
        f"{sorted(r.methods)} {r.path}"
        for r in routes
        if r.response_model is None and isinstance(r.response_class, DefaultPlaceholder)
    ]
    assert len(routes) > 100
    assert undeclared == []


def test_openapi_describes_every_json_answer(make_settings):
    app = create_app(make_settings())
    undescribed = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            ok = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            content = ok.get("content", {})
            if "application/json" in content and not content["application/json"].get("schema"):
                undescribed.append(f"{method.upper()} {path}")
    assert len(app.openapi()["paths"]) > 80
    assert undescribed == []
