"""How each API module of the fake declares its endpoints: a list of (method, path regex,
handler) that the server tries in order, filled by a `route` decorator."""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.gcp.fake_gcp.errors import HttpFailure
from tests.gcp.fake_gcp.world import Reply, Request, Response, World

Handler = Callable[[World, Request], Reply]
Routes = list[tuple[str, "re.Pattern[str]", Handler]]


def router(prefix: str) -> tuple[Routes, Callable[[str, str], Callable[[Handler], Handler]]]:
    """(the routes, a decorator `@route("GET", r"/path/(?P<name>[^/]+)")` adding to them)."""
    routes: Routes = []

    def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            routes.append((method, re.compile(prefix + pattern), handler))
            return handler

        return register

    return routes, route


def answer(failure: HttpFailure) -> Response:
    return failure.status, failure.body
