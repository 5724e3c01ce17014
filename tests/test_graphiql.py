"""GraphiQL (GET /graphql in development) served entirely by the hub: the page and every file it loads come from the
hub, under a Content-Security-Policy that names no other host; in headless Chromium with every other host blocked it
opens on the README's first query, runs it with a token typed into the Headers pane, runs a subscription over the
hub's WebSocket, and leaves the token in the tab's sessionStorage only, never in localStorage."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route

from tests.conftest import scratch_folder
from tests.live import Served, graphql_data, serve

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
VENDOR = ROOT / "hub" / "graphiql" / "static" / "vendor"
# CSP keywords and schemes: anything else in a policy would be a host
KEYWORDS = {"'self'", "'none'", "data:"}
SUBSCRIPTION = "subscription { statusChanged(kinds: [FINDING]) { action toState entity { ... on Finding { title } } } }"
REPORT = "mutation($input: ReportFindingInput!) { reportFinding(input: $input) { finding { id } errors { code } } }"


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with scratch_folder("hub-test-graphiql-") as data_dir:
        yield from serve(data_dir, env={"HUB_EVENTS_POLL_SECONDS": "0.5", "HUB_SCHEDULER": "off"})


def policy(header: str) -> dict[str, list[str]]:
    """A Content-Security-Policy header as {directive: sources}."""
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def readme_first_query() -> str:
    """The query of README.md's "A first query in GraphiQL"."""
    section = README.read_text().split("### A first query in GraphiQL", 1)[1]
    match = re.search(r"```graphql\n(.*?)```", section, re.S)
    assert match
    return match.group(1)


def editor_text(page: Page, selector: str) -> str:
    """The whole text of one of GraphiQL's editors (CodeMirror draws only the lines in view)."""
    return str(page.evaluate("s => document.querySelector(s).CodeMirror.getValue()", f"{selector} .CodeMirror"))


QUERY_EDITOR = ".graphiql-query-editor"
HEADERS_EDITOR = ".graphiql-editor-tool .graphiql-editor:not(.hidden)"
RESULT = ".result-window"


def type_into(page: Page, selector: str, text: str) -> None:
    """Replace an editor's text as a user would: click, select all, type (inserted as one input, so that the
    editor's bracket closing does not double what is typed)."""
    page.locator(f"{selector} .CodeMirror").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def until(condition: Callable[[], bool], seconds: float = 15) -> None:
    """Wait for a condition checked from here (the page's CSP forbids the eval of Playwright's wait_for_function)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)


def wait_for_result(page: Page, done: Callable[[str], bool]) -> str:
    """The result pane's text once `done` says so."""
    until(lambda: done(editor_text(page, RESULT)))
    return editor_text(page, RESULT)


def test_the_page_and_its_files_come_from_the_hub_under_a_policy_that_names_no_other_host(served: Served) -> None:
    page = httpx.get(served.url + "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    directives = policy(page.headers["content-security-policy"])
    assert {source for sources in directives.values() for source in sources} <= KEYWORDS
    assert directives["default-src"] == ["'none'"] and directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"] and directives["connect-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "<script>" not in page.text and " style=" not in page.text

    loaded = re.findall(r'(?:src|href)="([^"]+)"(?:\s+integrity="([^"]+)")?', page.text)
    assert len(loaded) == 9  # the icon (data:), three style sheets, five scripts
    for path, integrity in loaded:
        if path.startswith("data:"):
            continue
        assert path.startswith("/graphiql/"), path
        answer = httpx.get(served.url + path)
        assert answer.status_code == 200, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        if path.startswith("/graphiql/vendor/"):
            # the published files, byte for byte, with their licence beside them, cached for good
            digest = base64.b64encode(hashlib.sha384(answer.content).digest()).decode()
            assert integrity == f"sha384-{digest}", path
            assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert (VENDOR / path.removeprefix("/graphiql/vendor/")).parent.joinpath("LICENSE").is_file()
        else:
            assert answer.headers["cache-control"] == "no-cache"
    assert {p.name for p in VENDOR.iterdir()} == {
        "graphiql-3.8.3",
        "graphiql-plugin-explorer-1.0.2",
        "react-18.2.0",
        "react-dom-18.2.0",
    }


def test_graphiql_runs_a_query_and_a_subscription_with_every_other_host_blocked(
    browser: Browser, served: Served
) -> None:
    cisa = served.tokens()["CISA"]
    hub = urlsplit(served.url).netloc
    elsewhere: list[str] = []

    def only_the_hub(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == hub or url.startswith("data:"):
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    context.route("**/*", only_the_hub)
    context.add_init_script(
        """window.__violations = [];
        document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective));"""
    )
    page = context.new_page()
    sockets: list[str] = []
    frames: list[str] = []

    def opened(ws: Any) -> None:
        sockets.append(ws.url)
        ws.on("framesent", lambda payload: frames.append(str(payload)))

    page.on("websocket", opened)
    try:
        response = page.goto(served.url + "/graphql")
        assert response is not None and "content-security-policy" in response.headers
        page.wait_for_selector(f"{QUERY_EDITOR} .CodeMirror", timeout=20_000)

        # it opens on the README's first query, under a comment that says where the token goes, and on the
        # Headers pane with a hint
        opening = editor_text(page, QUERY_EDITOR)
        assert opening.startswith("# ") and "Headers" in opening.splitlines()[0] + opening.splitlines()[1]
        assert "".join(line + "\n" for line in opening.splitlines() if not line.startswith("#")) == (
            readme_first_query()
        )
        assert "Bearer <paste a token" in editor_text(page, HEADERS_EDITOR)

        # the token typed into the Headers pane; the query runs as its principal
        type_into(page, HEADERS_EDITOR, json.dumps({"Authorization": f"Bearer {cisa}"}))
        page.keyboard.press("Control+Enter")
        answer = json.loads(wait_for_result(page, lambda text: '"data"' in text))
        me = graphql_data(served, cisa, "{ me { name } }")["me"]
        assert answer["data"]["me"]["name"] == me["name"] == "CISA demo officer"
        assert answer["data"]["models"]["totalCount"] > 0 and "errors" not in answer

        # a subscription: over the hub's own WebSocket (connect-src 'self' covers ws: to the same host), the
        # Headers pane as the connection_init payload; an event made through the API shows in the result pane
        type_into(page, QUERY_EDITOR, SUBSCRIPTION)
        # GraphiQL tells a subscription by the editor's parsed query, updated 100 ms after an edit, when it also
        # puts the query into the address
        until(lambda: "subscription" in unquote_plus(page.url))
        page.keyboard.press("Control+Enter")
        until(lambda: any('"subscribe"' in frame for frame in frames))
        time.sleep(0.3)  # the hub has the subscription in place (as tests/test_subscriptions.py waits)
        title = f"GraphiQL probe {uuid.uuid4().hex[:8]}"
        reported = graphql_data(served, cisa, REPORT, input={"title": title, "tlp": "GREEN"})["reportFinding"]
        assert reported["errors"] == []
        event = json.loads(wait_for_result(page, lambda text: title in text))
        changed = {"action": "REPORTED", "toState": "REPORTED", "entity": {"title": title}}
        assert event["data"]["statusChanged"] == changed
        assert sockets == [served.url.replace("http", "ws", 1) + "/graphql"]
        init = json.loads(next(frame for frame in frames if '"connection_init"' in frame))
        assert init["payload"] == {"Authorization": f"Bearer {cisa}"}

        # nothing beyond the hub was asked for, nothing broke the policy, and the token is in this tab's
        # sessionStorage only
        assert elsewhere == []
        assert page.evaluate("window.__violations") == []
        stored = page.evaluate("Object.entries(localStorage)")
        assert not any(cisa in key or cisa in value for key, value in stored)
        assert cisa in json.dumps(page.evaluate("Object.entries(sessionStorage)"))
        assert cisa not in page.url
    finally:
        context.close()
