"""Typed wire models: what each route answers, declared as its `response_model`.

One module per resource (`XPublic` one object, `XsPublic` a page with `data`/`has_more`,
the Zhipu envelopes with `code`/`message`/`timestamp`), so `/openapi.json` describes every
answer. Routes that build their body with the wire helpers and return it as a `JSONBody`
are not re-validated by FastAPI: these models document the body, and
tests/api/test_response_models.py checks real answers against them.
"""
