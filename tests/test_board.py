"""The agency board (GET /) in a real browser: headless Chromium (Debian's `chromium`) driven by Playwright, against a
real `hub serve --demo`. It loads with a token and shows the demo's counts; a change made through the API shows up
without a reload, marked; another agency's board never shows an AMBER_STRICT finding; after a dropped connection it
catches up from its cursor and says for how long it was offline; the token stays out of URLs; keyboard and narrow
windows work. Every run saves a screenshot of the board at 1280x800 as test-artifacts/board.png."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import scratch_folder
from tests.live import Served, create_token, graphql_data, serve

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ROOT / "schema" / "operations"
ARTIFACTS = ROOT / "test-artifacts"
TOKEN_KEY = "frontier-hub.board.token"
REPORT = """mutation($input: ReportFindingInput!) { reportFinding(input: $input) {
  finding { id version state } errors { code message } } }"""
TRANSITION = """mutation($input: TransitionFindingInput!) { transitionFinding(input: $input) {
  finding { id version state } errors { code message } } }"""
SHARE = """mutation($input: ShareFindingInput!) { shareFinding(input: $input) {
  finding { id version tlp } errors { code message } } }"""
PLAN_MEASURE = """mutation($input: PlanMeasureInput!) { planMeasure(input: $input) {
  measure { id state } errors { code message } } }"""
# the board's status line once it is subscribed
# a selector, not a JavaScript expression: the board's Content-Security-Policy forbids eval, and Playwright's
# wait_for_function evaluates its expression with eval
LIVE = "#live-status[data-state='live']"


@pytest.fixture(scope="module")
def served(browser: Browser) -> Iterator[Served]:
    with scratch_folder("hub-test-board-") as data_dir:
        yield from serve(data_dir, env={"HUB_EVENTS_POLL_SECONDS": "0.5", "HUB_SCHEDULER": "off"})


@pytest.fixture(scope="module")
def cisa(served: Served) -> str:
    return served.tokens()["CISA"]


def open_page(browser: Browser, width: int = 1280, height: int = 800) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    # keep a handle on every WebSocket the page opens, so that a test can drop the board's connection under it
    context.add_init_script(
        """(() => {
          const Native = window.WebSocket;
          window.__sockets = [];
          window.WebSocket = class extends Native {
            constructor(...args) { super(...args); window.__sockets.push(this); }
          };
        })()"""
    )
    return context.new_page()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = open_page(browser)
    yield opened
    opened.context.close()


def vetted(name: str) -> str:
    return (OPERATIONS / f"{name}.graphql").read_text()


def report(served: Served, token: str, title: str, **fields: Any) -> dict[str, Any]:
    return dict(graphql_data(served, token, REPORT, input={"title": title, **fields})["reportFinding"]["finding"])


def transition(served: Served, token: str, finding: dict[str, Any], to: str) -> dict[str, Any]:
    moved = graphql_data(
        served, token, TRANSITION, input={"id": finding["id"], "to": to, "expectedVersion": finding["version"]}
    )
    return dict(moved["transitionFinding"]["finding"])


def sign_in(page: Page, served: Served, token: str) -> None:
    page.goto(served.url + "/")
    page.fill("#token", token)
    page.press("#token", "Enter")
    page.wait_for_selector("#findings-body tr[data-id]", timeout=15_000)
    page.wait_for_selector(LIVE, state="attached", timeout=15_000)


def finding_row(page: Page, title: str) -> Any:
    return page.locator("#findings-body tr", has_text=title)


def tab_to(page: Page, element_id: str, presses: int = 40) -> bool:
    """Press Tab until the element with this id has the focus; False if it never does."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return True
    return False


def test_the_board_shows_the_demo_dashboard_with_vetted_operations_only(served: Served, cisa: str, page: Page) -> None:
    posted: list[str] = []
    page.on("request", lambda r: posted.append(r.post_data or "") if r.method == "POST" else None)
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append(str(payload))))
    sign_in(page, served, cisa)
    expect(page.locator("#who")).to_contain_text("CISA: Cybersecurity and Infrastructure Security Agency")

    # the counts on the page are the dashboard's counts for this token, fetched over HTTP now
    fetched = graphql_data(served, cisa, vetted("board_dashboard"))["dashboard"]
    expected = {(c["kind"], c["state"]): c["count"] for c in fetched["counts"]}
    cells = page.eval_on_selector_all(
        "#count-grid td[data-kind]", "cells => cells.map(c => [c.dataset.kind, c.dataset.state, c.textContent])"
    )
    shown = {(kind, state): int(text.replace(",", "")) for kind, state, text in cells}
    assert {key: n for key, n in shown.items() if n} == {key: n for key, n in expected.items() if n}
    assert shown[("FINDING", "REPORTED")] == expected[("FINDING", "REPORTED")] > 0
    overdue = page.locator("#overdue-list caption")
    expect(overdue).to_contain_text(f"Overdue: {fetched['overdueCount']:,}")
    assert page.locator("#overdue-list tbody tr.overdue").count() == min(50, fetched["overdueCount"])

    # open preview windows with days left, the standards with their sign-offs, the open findings
    open_windows = page.locator("#agreements-body tr[data-id]")
    assert open_windows.count() > 0
    expect(open_windows.first).to_contain_text(re.compile(r"closes (today|in \d+ days?)"))
    expect(page.locator("#standards-body")).to_contain_text("In force")
    expect(page.locator("#standards-body")).to_contain_text(re.compile(r"\d of 2"))
    total = graphql_data(served, cisa, vetted("board_open_findings"), first=1)["findings"]["totalCount"]
    expect(page.locator("#findings-caption-count")).to_have_text(f"50 shown of {total:,}")

    # every request the board made is the exact text of a vetted operation, the subscription too
    texts = {path.read_text() for path in OPERATIONS.glob("*.graphql")}
    queries = [json.loads(body)["query"] for body in posted if body.startswith("{")]
    assert len(queries) >= 5 and all(query in texts for query in queries)
    subscribes = [json.loads(f) for f in frames if '"subscribe"' in f]
    assert [s["payload"]["query"] for s in subscribes] == [vetted("board_status_changed")]

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "board.png"))
    assert (ARTIFACTS / "board.png").stat().st_size > 20_000


def test_a_change_made_through_the_api_shows_on_the_board_at_once_and_marked(
    served: Served, cisa: str, page: Page
) -> None:
    sign_in(page, served, cisa)
    page.evaluate("window.__sameDocument = true")
    title = f"Board probe {uuid.uuid4().hex[:8]}"
    finding = report(served, cisa, title, tlp="GREEN", cvss={"baseScore": 8.1}, sectors=["ENERGY"])
    row = finding_row(page, title)
    expect(row).to_be_visible(timeout=5_000)
    expect(row.locator(".marker")).to_contain_text("new")
    expect(row.locator(".tlp")).to_have_text("TLP:GREEN")

    started = time.monotonic()
    transition(served, cisa, finding, "TRIAGED")
    expect(row.locator("td.state-cell")).to_have_text("Triaged", timeout=5_000)
    assert time.monotonic() - started < 2.5
    expect(row.locator(".marker")).to_contain_text("Reported → Triaged")
    expect(page.locator("#change-log")).to_contain_text(f"“{title}”: Reported → Triaged (by CISA)")
    # the counts follow, and say what changed
    counts = graphql_data(served, cisa, vetted("board_dashboard"))["dashboard"]["counts"]
    triaged = next(c["count"] for c in counts if c["kind"] == "FINDING" and c["state"] == "TRIAGED")
    cell = page.locator('#count-grid td[data-kind="FINDING"][data-state="TRIAGED"]')
    expect(cell).to_have_attribute("data-count", str(triaged))
    expect(cell.locator(".delta")).to_contain_text("+")

    # a DoD measure planned against the finding shows in its row: the board refreshes the findings a measure names
    measure = f"Harden pumping stations {uuid.uuid4().hex[:6]}"
    graphql_data(
        served,
        served.tokens()["DOD"],
        PLAN_MEASURE,
        input={
            "title": measure,
            "kind": "HARDEN",
            "systemScope": "base water systems",
            "ownerComponent": "CYBERCOM",
            "findingIds": [finding["id"]],
            "tlp": "GREEN",
        },
    )
    expect(row.locator("td").nth(5)).to_contain_text(f"{measure} (Planned)", timeout=5_000)
    expect(row.locator(".marker")).to_contain_text("Measure")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"


def test_another_agency_never_sees_an_amber_strict_finding(served: Served, cisa: str, browser: Browser) -> None:
    cisa_page, epa_page = open_page(browser), open_page(browser)
    try:
        sign_in(cisa_page, served, cisa)
        sign_in(epa_page, served, served.tokens()["EPA"])
        expect(epa_page.locator("#who")).to_contain_text("EPA")
        probe = uuid.uuid4().hex[:8]
        strict = f"Strict probe {probe}"
        green = f"Green probe {probe}"
        report(served, cisa, strict, tlp="AMBER_STRICT", cvss={"baseScore": 9.6}, sectors=["ENERGY"])
        report(served, cisa, green, tlp="GREEN", cvss={"baseScore": 9.1}, sectors=["ENERGY"])

        label = finding_row(cisa_page, strict).locator(".tlp")
        expect(label).to_have_text("TLP:AMBER+STRICT", timeout=5_000)
        colours = label.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
        assert colours == ["rgb(255, 192, 0)", "rgb(0, 0, 0)"]  # FIRST TLP 2.0: #FFC000 on black
        green_label = finding_row(cisa_page, green).locator(".tlp")
        assert green_label.evaluate("e => getComputedStyle(e).color") == "rgb(51, 255, 0)"  # #33FF00

        # EPA's board is live (it gets the GREEN finding reported after the strict one) and never shows the strict one
        expect(finding_row(epa_page, green)).to_be_visible(timeout=5_000)
        assert finding_row(epa_page, strict).count() == 0
        assert strict not in epa_page.locator("#change-log").inner_text()
        # nor after a reload, which lists the findings afresh from the API (the token is still in the tab)
        epa_page.reload()
        epa_page.wait_for_selector("#findings-body tr[data-id]", timeout=15_000)
        expect(finding_row(epa_page, green)).to_be_visible()
        assert finding_row(epa_page, strict).count() == 0
        expect(finding_row(cisa_page, strict)).to_be_visible()

        # shared with EPA (AMBER), then narrowed to AMBER_STRICT: EPA's board takes the row off at once
        epa = graphql_data(served, served.tokens()["EPA"], vetted("board_me"))["me"]["agency"]["id"]
        shared = f"Shared probe {probe}"
        finding = report(
            served, cisa, shared, tlp="AMBER", shareWithAgencyIds=[epa], cvss={"baseScore": 8.8}, sectors=["ENERGY"]
        )
        expect(finding_row(epa_page, shared)).to_be_visible(timeout=5_000)
        expect(finding_row(epa_page, shared).locator(".tlp")).to_have_text("TLP:AMBER")
        graphql_data(
            served,
            cisa,
            SHARE,
            input={"id": finding["id"], "expectedVersion": finding["version"], "tlp": "AMBER_STRICT"},
        )
        expect(finding_row(epa_page, shared)).to_have_count(0, timeout=5_000)
        expect(epa_page.locator("#change-log li").first).to_contain_text("no longer visible to you, removed")
        expect(finding_row(cisa_page, shared).locator(".tlp")).to_have_text("TLP:AMBER+STRICT", timeout=5_000)
    finally:
        cisa_page.context.close()
        epa_page.context.close()


def test_after_a_dropped_connection_the_board_catches_up_and_says_how_long_it_was_offline(
    served: Served, cisa: str, page: Page
) -> None:
    sign_in(page, served, cisa)
    title = f"Offline probe {uuid.uuid4().hex[:8]}"
    finding = report(served, cisa, title, tlp="GREEN", cvss={"baseScore": 7.7}, sectors=["DAMS"])
    row = finding_row(page, title)
    expect(row).to_be_visible(timeout=5_000)
    status = page.locator("#live-status")

    # the browser goes offline: the board says so; a change made meanwhile cannot reach it
    page.context.set_offline(True)
    expect(status).to_have_attribute("data-state", "offline")
    expect(status).to_contain_text("Offline since")
    finding = transition(served, cisa, finding, "TRIAGED")
    time.sleep(1.5)
    expect(row.locator("td.state-cell")).to_have_text("Reported")

    # back online: it resubscribes from its last cursor and catches up with exactly the one change it missed
    page.context.set_offline(False)
    expect(status).to_have_text(
        re.compile(r"Live again: offline for \d+ s, caught up with 1 change\.$"), timeout=10_000
    )
    expect(row.locator("td.state-cell")).to_have_text("Triaged", timeout=5_000)
    expect(row.locator(".marker")).to_contain_text("Reported → Triaged")

    # the connection drops under it (closed, not offline): it reconnects by itself and misses nothing
    page.evaluate("window.__sockets.filter(s => s.readyState === WebSocket.OPEN).forEach(s => s.close(3001))")
    transition(served, cisa, finding, "VALIDATED")
    expect(row.locator("td.state-cell")).to_have_text("Validated", timeout=10_000)
    expect(status).to_have_text(re.compile(r"Live again: offline for \d+ s, caught up with \d+ changes?\.$"))
    expect(page.locator("#change-log")).to_contain_text(f"“{title}”: Triaged → Validated")


def test_the_token_stays_out_of_urls_and_in_session_storage_and_the_keyboard_reaches_everything(
    served: Served, cisa: str, page: Page
) -> None:
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(served.url + "/")
    assert tab_to(page, "token"), "Tab does not reach the token field"
    page.keyboard.type(cisa)
    page.keyboard.press("Enter")
    page.wait_for_selector("#findings-body tr[data-id]", timeout=15_000)
    page.wait_for_selector(LIVE, state="attached", timeout=15_000)

    assert cisa not in page.url and not any(cisa in url for url in urls)
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == cisa
    assert page.evaluate("localStorage.length") == 0 and "fh_" not in page.evaluate("document.cookie")

    # keyboard: Tab reaches the sign-out button, the filters and the scrolling tables, each with a visible focus ring
    page.evaluate("document.activeElement && document.activeElement.blur()")
    assert tab_to(page, "sign-out"), "Tab does not reach the sign-out button"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    assert tab_to(page, "sector"), "Tab does not reach the sector filter"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.matches('#findings-table .table-scroll')")

    # choosing a sector narrows the findings to it
    page.select_option("#sector", "DAMS")
    expect(page.locator("#findings-caption")).to_contain_text("Dams")
    expect(page.locator("#findings-body tr[data-id]").first).to_contain_text("Dams")

    # signing out forgets the token and asks for one again
    page.focus("#sign-out")
    page.keyboard.press("Enter")
    expect(page.locator("#token")).to_be_visible()
    expect(page.locator("#token-error")).to_contain_text("Signed out")
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
    page.reload()
    expect(page.locator("#token")).to_be_visible()
    assert page.locator("#board").is_hidden()


def test_a_bad_token_is_refused_clearly_and_an_ended_session_clears_the_token(
    served: Served, cisa: str, page: Page
) -> None:
    page.goto(served.url + "/")
    page.fill("#token", "fh_not-a-real-token")
    page.press("#token", "Enter")
    expect(page.locator("#token-error")).to_contain_text("did not accept this token")
    expect(page.locator("#token")).to_be_visible()
    expect(page.locator("#token")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None

    # a token revoked while the board is open: at its next request the board clears it and asks again
    token = create_token(served.data_dir, "--agency", "CISA", "--role", "VIEWER", "--name", "board viewer")
    sign_in(page, served, token)
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == token
    token_id = graphql_data(served, token, "{ apiTokens { id } }")["apiTokens"][0]["id"]
    graphql_data(
        served,
        token,
        "mutation($id: ID!) { revokeToken(input: {id: $id}) { errors { message } } }",
        id=token_id,
    )
    report(served, cisa, f"Wake-up probe {uuid.uuid4().hex[:8]}", tlp="GREEN", cvss={"baseScore": 7.5})
    expect(page.locator("#token-error")).to_contain_text("session has ended", timeout=10_000)
    expect(page.locator("#token")).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None


def test_a_narrow_window_scrolls_the_tables_not_the_page(served: Served, cisa: str, browser: Browser) -> None:
    page = open_page(browser, width=390, height=800)
    try:
        sign_in(page, served, cisa)
        page.wait_for_selector("#agreements-body tr[data-id]")
        document = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert document[0] <= document[1] == 390, document
        table = page.locator("#findings-table .table-scroll")
        assert table.evaluate("e => e.scrollWidth > e.clientWidth"), "the findings table should scroll sideways"
        # the counts still read as two columns of small tables
        boxes = page.eval_on_selector_all("#count-grid table", "ts => ts.map(t => t.getBoundingClientRect().width)")
        assert len(boxes) >= 8 and all(120 < width <= 390 / 2 for width in boxes)
    finally:
        page.context.close()
