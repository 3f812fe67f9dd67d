"""Request dependencies as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from openmaas.auth.principal import Principal
from openmaas.services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_principal(services: ServicesDep,
                  authorization: Annotated[str | None, Header()] = None) -> Principal:
    # A sync dependency: FastAPI runs it in the threadpool, keeping DB work off the loop.
    return services.authenticator.authenticate(authorization)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
