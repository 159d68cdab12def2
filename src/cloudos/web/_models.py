"""The API's shapes shared by every operation: request bodies, query strings, problems.

A request that names something the operation does not take is refused, never half
understood: ``POST .../rollback {"revision": 3}`` once rolled back to the *default*
revision, because the field is ``to`` and an unknown one was dropped in silence. So

- every request body model derives from :class:`RequestBody` (``extra="forbid"``), and
  ``tests/web/test_api_inputs.py`` walks the OpenAPI document to check that each
  operation's body says ``additionalProperties: false``;
- :func:`known_query` (a dependency of every API router) refuses query parameters the
  operation does not declare (``logs?lines=5`` when the parameter is ``tail``).

Both answer 422 naming the unknown field or parameter.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from cloudos.errors import InvalidInput


class RequestBody(BaseModel):
    """Base of every request body: unknown fields are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """An RFC 9457 problem document: every error the API returns."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str = Field(
        description="A stable snake_case word for the kind of error, for programs to branch "
        "on (`invalid_input`, `name_taken`, ...; docs/architecture.md lists them all)."
    )
    field: str | None = Field(
        default=None,
        description="The input the error is about (a body key, dotted when nested, or a "
        "query parameter), or null.",
    )


_QUERY_NAMES: dict[tuple[str, frozenset[str]], frozenset[str]] = {}


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


def known_query(request: Request) -> None:
    """Refuse a query parameter the operation does not declare (422 naming it)."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    key = (route.path, frozenset(route.methods or ()))
    names = _QUERY_NAMES.get(key)
    if names is None:
        names = _QUERY_NAMES[key] = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - names)
    if unknown:
        takes = ", ".join(sorted(names)) or "none"
        raise InvalidInput(
            f"query.{unknown[0]}: unknown query parameter (this operation takes: {takes})",
            field=unknown[0],
        )


__all__ = ["Problem", "RequestBody", "known_query"]
