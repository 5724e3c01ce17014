"""GraphiQL at GET /graphql, served entirely by the hub: the page, its bootstrap script and GraphiQL's own files
(vendored under static/vendor/ at pinned versions, with their licences; docs/frontends.md says how to update them),
under a Content-Security-Policy that names no other host. Off in production (the routes are not even mounted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
PAGE = (HERE / "index.html").read_bytes()

# GraphiQL runs only the hub's files and talks only to the hub: the page's script is a file (no inline script,
# no eval); its fonts and icons are data: URLs inside graphiql.min.css. connect-src 'self' covers the WebSocket of
# subscriptions too (ws: or wss: to the same host and port, as CSP Level 3 defines 'self'). No 'unsafe-inline' for
# styles either: GraphiQL sets them through the DOM, which the policy allows; what it refuses is only the scroll
# lock <style> that GraphiQL's dialogs add, on a page that never scrolls anyway.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# the vendored files carry their version in their path, so they never change under it
IMMUTABLE = "public, max-age=31536000, immutable"


def page() -> Response:
    """GraphiQL's page (what GET /graphql answers a browser in development)."""
    return Response(PAGE, media_type="text/html", headers={"Cache-Control": "no-cache", **HEADERS})


class GraphiQLFiles(StaticFiles):
    """GraphiQL's files, with the page's security headers: the vendored ones cached for a year, the hub's own
    (the bootstrap script and the page's styles) revalidated each time."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(HEADERS)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = IMMUTABLE if Path(path).parts[:1] == ("vendor",) else "no-cache"
        return response


def routes(production: bool) -> list[BaseRoute]:
    """The route of GraphiQL's files at /graphiql/; none in production, where GraphiQL is off."""
    return [] if production else [Mount("/graphiql", app=GraphiQLFiles(directory=STATIC), name="graphiql")]
