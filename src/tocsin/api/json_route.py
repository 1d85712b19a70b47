"""Routes whose JSON body FastAPI reads are read by :func:`~tocsin.services.inputs.decode_json`.

FastAPI parses a JSON body with :func:`json.loads`, which lets the last of two equal
keys win and answers a 5,000-digit number with Python's own advice.  Routers built
with ``route_class=StrictJSONRoute`` decode the body strictly first and answer a bad
one 400 in the intake's shape; FastAPI then takes the already decoded value.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from tocsin.api.events import refused_response
from tocsin.services.inputs import InputRefused, decode_json

__all__ = ["StrictJSONRoute"]


class _StrictJSONRequest(Request):
    """A request whose ``json()`` is :func:`decode_json` (decoded once, then kept)."""

    _strict: Any

    async def json(self) -> Any:
        if not hasattr(self, "_strict"):
            self._strict = decode_json(await self.body())
        return self._strict


def _is_json(request: Request) -> bool:
    declared = request.headers.get("content-type")
    if not declared:
        return True  # FastAPI reads a body without a type as JSON, so must we
    message = email.message.Message()
    message["content-type"] = declared
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class StrictJSONRoute(APIRoute):
    """An API route that refuses JSON two parsers could read differently."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            strict_request = _StrictJSONRequest(request.scope, request.receive)
            if _is_json(strict_request) and await strict_request.body():
                try:
                    await strict_request.json()
                except InputRefused as exc:
                    return refused_response(exc)
            return await handler(strict_request)

        return strict
