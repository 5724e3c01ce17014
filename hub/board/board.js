// The agency board: the program at a glance for the token's agency, kept live through statusChanged.
// Built on the public schema only: every request is a vetted operation of schema/operations/ (see api.js).

import { Api, ApiError, AuthError, operationText } from "./api.js";
import * as f from "./format.js";
import { CLOSE, GraphQLWsConnection } from "./graphql-ws.js";

const { h } = f;

const TOKEN_KEY = "frontier-hub.board.token";
const FINDINGS_SHOWN = 50;
const DEADLINES_SHOWN = 50;
const MARK_MS = 30_000; // how long a "changed" marker stays on a row or count
const BATCH_MS = 100; // events that arrive together are fetched together
const FULL_RELOAD_OVER = 150; // a catch-up with more changes than this reloads the board instead
const RELOAD_EVERY_MS = 15 * 60_000; // relative dates ("in 3 days") roll over; totals stay exact
const SHOWN_STANDARD_STATES = ["ADOPTED", "IN_REVIEW", "DRAFT"];
const LOG_LENGTH = 20;

const $ = (id) => document.getElementById(id);

const board = {
  generation: 0, // bumped at sign-out: answers that arrive for an older session are dropped
  api: null,
  me: null,
  policy: null,
  live: null,
  dashboard: null,
  findings: new Map(),
  findingsTotal: 0,
  agreements: new Map(),
  standards: new Map(),
  rowMarks: new Map(), // record id -> {text, until}
  countMarks: new Map(), // "KIND/STATE" -> {delta, until}
  pending: [],
  flushTimer: null,
  flushing: false,
  reloadTimer: null,
};

// ------------------------------------------------------------------------------------------------ the token

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token) {
  try {
    sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // storage off: the board works for this page's life
  }
}

function forgetToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

// ------------------------------------------------------------------------------------------------ sign in and out

function showSignIn(message = "", { error = false, focus = true } = {}) {
  $("board").hidden = true;
  $("session").hidden = true;
  $("signin").hidden = false;
  const note = $("token-error");
  note.textContent = message;
  note.classList.toggle("notice", !error);
  const field = $("token");
  field.value = "";
  field.setAttribute("aria-invalid", error ? "true" : "false");
  if (focus) field.focus();
}

function showBoard() {
  $("signin").hidden = true;
  $("board").hidden = false;
  $("session").hidden = false;
  const me = board.me;
  const who = me.agency ? `${me.agency.code}: ${me.agency.name}` : me.lab ? `${me.lab.name} (lab)` : "no agency";
  $("who").replaceChildren(
    h("span", { class: "agency" }, who),
    h("span", { class: "muted" }, ` · ${me.name} (${f.humanize(me.role)})`),
  );
  document.title = `${me.agency ? me.agency.code : me.lab ? me.lab.name : ""} · frontier-hub board`;
}

async function signIn(token, { typed }) {
  const generation = ++board.generation;
  const api = new Api(token);
  let data;
  try {
    data = await api.run("board_me");
  } catch (error) {
    if (generation !== board.generation) return;
    if (error instanceof AuthError) {
      forgetToken();
      showSignIn(
        typed
          ? "The hub did not accept this token. Check that you pasted all of it (it starts with fh_), or ask your " +
              "agency admin for a new one."
          : "Your session has ended: the hub no longer accepts the token (it expired or was revoked). Paste a token to go on.",
        { error: true },
      );
    } else {
      showSignIn(`The board could not reach the hub: ${error.message}. Try again in a moment.`, { error: true });
    }
    return;
  }
  if (generation !== board.generation) return;
  storeToken(token);
  board.api = api;
  board.me = data.me;
  board.policy = data.policy;
  showBoard();
  setStatus("connecting", "Loading…");
  let since = null;
  try {
    since = await latestCursor();
    await loadAll();
  } catch (error) {
    handleError(error);
    if (generation !== board.generation || error instanceof AuthError) return;
  }
  if (generation !== board.generation) return;
  board.live = new Live(token, since);
  board.live.start();
  board.reloadTimer = setInterval(() => loadAll().catch(handleError), RELOAD_EVERY_MS);
}

function signOut(message, { error = false } = {}) {
  board.generation++;
  board.live?.stop();
  board.live = null;
  clearInterval(board.reloadTimer);
  clearTimeout(board.flushTimer);
  board.flushTimer = null;
  board.pending = [];
  board.api = null;
  board.me = null;
  board.dashboard = null;
  board.findings.clear();
  board.agreements.clear();
  board.standards.clear();
  board.rowMarks.clear();
  board.countMarks.clear();
  forgetToken();
  for (const id of ["count-grid", "overdue", "due-soon", "agreements-table", "standards-table", "findings-table", "change-log"]) {
    $(id).replaceChildren();
  }
  $("error-banner").hidden = true;
  document.title = "frontier-hub board";
  showSignIn(message, { error });
}

function sessionEnded() {
  if (!board.api) return;
  signOut(
    "Your session has ended: the hub no longer accepts the token (it expired or was revoked). Paste a new token to go on.",
    { error: true },
  );
}

function handleError(error) {
  if (error instanceof AuthError) {
    sessionEnded();
    return;
  }
  const banner = $("error-banner");
  const id = error instanceof ApiError && error.requestId ? ` (request id ${error.requestId})` : "";
  banner.textContent = `The board could not refresh: ${error.message}${id}. It will try again with the next change.`;
  banner.hidden = false;
}

function clearError() {
  $("error-banner").hidden = true;
}

// ------------------------------------------------------------------------------------------------ loading

async function latestCursor() {
  const data = await board.api.run("board_latest_event", { first: 1 });
  return data.events.edges[0]?.node.cursor ?? null;
}

async function loadAll() {
  const generation = board.generation;
  await Promise.all([loadDashboard(), loadAgreements(), loadStandards(), loadFindings()]);
  if (generation === board.generation) clearError();
}

async function loadDashboard({ mark = false } = {}) {
  const generation = board.generation;
  const data = await board.api.run("board_dashboard", { horizonDays: 7, first: DEADLINES_SHOWN });
  if (generation !== board.generation) return;
  const previous = board.dashboard;
  board.dashboard = data.dashboard;
  if (mark && previous) markCounts(previous, data.dashboard);
  renderCounts();
  renderDeadlines();
}

async function loadAgreements() {
  const generation = board.generation;
  const now = new Date();
  const data = await board.api.run("agreements_closing_within", {
    from: now.toISOString(),
    before: new Date(now.getTime() + 400 * 86_400_000).toISOString(),
    state: ["ACTIVE"],
    first: 100,
  });
  if (generation !== board.generation) return;
  board.agreements = new Map(
    data.agreements.edges.map((edge) => edge.node).filter((a) => windowOpen(a)).map((a) => [a.id, a]),
  );
  renderAgreements();
}

async function loadStandards() {
  const generation = board.generation;
  const data = await board.api.run("coverage_standards_with_signoffs", { state: SHOWN_STANDARD_STATES, first: 20 });
  if (generation !== board.generation) return;
  board.standards = new Map(data.coverageStandards.edges.map((edge) => [edge.node.id, edge.node]));
  renderStandards();
}

function findingsFilter() {
  const form = $("findings-filter");
  const severity = [...form.querySelectorAll('input[name="severity"]:checked')].map((input) => input.value);
  const sector = $("sector").value;
  return {
    severity,
    sectors: sector ? [sector] : null,
    orderBy: { field: $("order").value, direction: "DESC" },
  };
}

async function loadFindings() {
  const generation = board.generation;
  const filter = findingsFilter();
  if (filter.severity.length === 0) {
    board.findings = new Map();
    board.findingsTotal = 0;
    renderFindings();
    return;
  }
  const data = await board.api.run("board_open_findings", { ...filter, first: FINDINGS_SHOWN });
  if (generation !== board.generation) return;
  board.findings = new Map(data.findings.edges.map((edge) => [edge.node.id, edge.node]));
  board.findingsTotal = data.findings.totalCount;
  renderFindings();
}

async function refreshFindingsTotal() {
  const filter = findingsFilter();
  if (filter.severity.length === 0) return;
  const generation = board.generation;
  const data = await board.api.run("board_open_findings", { ...filter, first: 1 });
  if (generation !== board.generation) return;
  board.findingsTotal = data.findings.totalCount;
  $("findings-caption-count").textContent = findingsCountText();
}

// ------------------------------------------------------------------------------------------------ markers

function markRow(id, text) {
  board.rowMarks.set(id, { text, until: Date.now() + MARK_MS });
}

function rowMark(id) {
  const mark = board.rowMarks.get(id);
  if (!mark) return null;
  if (mark.until < Date.now()) {
    board.rowMarks.delete(id);
    return null;
  }
  return mark;
}

function markerElement(text) {
  return h("span", { class: "marker" }, h("span", { class: "visually-hidden" }, "Changed just now: "), text);
}

/** After `until`, take the marker off whatever element still shows it. */
function expireMarkers() {
  const now = Date.now();
  for (const [id, mark] of board.rowMarks) {
    if (mark.until < now) board.rowMarks.delete(id);
  }
  for (const [key, mark] of board.countMarks) {
    if (mark.until < now) board.countMarks.delete(key);
  }
  for (const marker of document.querySelectorAll("[data-mark-until]")) {
    if (Number(marker.dataset.markUntil) < now) {
      marker.removeAttribute("data-mark-until");
      marker.classList.remove("changed");
      for (const badge of marker.querySelectorAll(".marker, .delta")) badge.remove();
    }
  }
}

function flash(element, until) {
  element.classList.add("changed", "flash");
  element.dataset.markUntil = String(until);
  element.addEventListener("animationend", () => element.classList.remove("flash"), { once: true });
}

function markCounts(previous, current) {
  const before = new Map(previous.counts.map((c) => [`${c.kind}/${c.state}`, c.count]));
  const after = new Map(current.counts.map((c) => [`${c.kind}/${c.state}`, c.count]));
  const until = Date.now() + MARK_MS;
  for (const key of new Set([...before.keys(), ...after.keys()])) {
    const delta = (after.get(key) ?? 0) - (before.get(key) ?? 0);
    if (delta !== 0) {
      board.countMarks.set(key, { delta, until, fresh: true });
    }
  }
}

// ------------------------------------------------------------------------------------------------ rendering

function scrollRegion(table, captionId, extraClass = "") {
  return h(
    "div",
    { class: `table-scroll ${extraClass}`.trim(), role: "region", tabindex: "0", "aria-labelledby": captionId },
    table,
  );
}

/** A caption that stays in view while its table scrolls sideways (its text is what labels the scroll region). */
function scrollCaption(id, ...children) {
  return h("caption", {}, h("span", { id, class: "cap" }, ...children));
}

function renderCounts() {
  const dashboard = board.dashboard;
  $("as-of").textContent = `as of ${f.formatDate(dashboard.asOf)}`;
  const counts = new Map(dashboard.counts.map((c) => [`${c.kind}/${c.state}`, c.count]));
  const kinds = [...f.KINDS];
  for (const c of dashboard.counts) {
    if (!kinds.some(([kind]) => kind === c.kind)) kinds.push([c.kind, f.humanize(c.kind), []]);
  }
  const now = Date.now();
  const tables = [];
  for (const [kind, label, order] of kinds) {
    const states = [...order];
    for (const c of dashboard.counts) {
      if (c.kind === kind && !states.includes(c.state)) states.push(c.state);
    }
    const total = states.reduce((sum, state) => sum + (counts.get(`${kind}/${state}`) ?? 0), 0);
    const captionId = `counts-${kind.toLowerCase()}`;
    const rows = states.map((state) => {
      const key = `${kind}/${state}`;
      const count = counts.get(key) ?? 0;
      const mark = board.countMarks.get(key);
      const cell = h(
        "td",
        { class: "num", dataset: { kind, state, count: String(count) } },
        f.formatNumber(count),
        mark && mark.until > now
          ? h("span", { class: "delta" }, h("span", { class: "visually-hidden" }, " changed by "), ` ${mark.delta > 0 ? "+" : "−"}${f.formatNumber(Math.abs(mark.delta))}`)
          : null,
      );
      const row = h("tr", { class: count === 0 ? "zero" : null }, h("th", { scope: "row" }, f.humanize(state)), cell);
      if (mark && mark.until > now) {
        row.classList.add("changed");
        row.dataset.markUntil = String(mark.until);
        if (mark.fresh) {
          flash(row, mark.until);
          mark.fresh = false;
        }
      }
      return row;
    });
    tables.push(
      h(
        "table",
        { class: "counts", dataset: { kind } },
        h("caption", { id: captionId }, label, " ", h("span", { class: "total" }, f.formatNumber(total))),
        h("thead", { class: "visually-hidden" }, h("tr", {}, h("th", { scope: "col" }, "State"), h("th", { scope: "col" }, "Count"))),
        h("tbody", {}, rows),
      ),
    );
  }
  // coverage: the rescreening queue and the standing overrides (dashboard.rescreeningQueueCount, overrideCount)
  const coverageRows = [
    ["Awaiting rescreening", dashboard.rescreeningQueueCount],
    ["Outcomes overriding the proposal", dashboard.overrideCount],
  ].map(([label, count]) =>
    h("tr", { class: count === 0 ? "zero" : null }, h("th", { scope: "row" }, label), h("td", { class: "num", dataset: { coverage: label } }, f.formatNumber(count))),
  );
  tables.push(
    h(
      "table",
      { class: "counts", dataset: { kind: "COVERAGE" } },
      h("caption", { id: "counts-coverage" }, "Coverage"),
      h("thead", { class: "visually-hidden" }, h("tr", {}, h("th", { scope: "col" }, "What"), h("th", { scope: "col" }, "Count"))),
      h("tbody", {}, coverageRows),
    ),
  );
  $("count-grid").replaceChildren(...tables);
}

function entityText(deadline) {
  const e = deadline.entity;
  if (!e) return f.KIND_LABEL[deadline.kind] || f.humanize(deadline.kind);
  if (e.title !== undefined && e.counterpart !== undefined) {
    const name = e.counterpart ? e.counterpart.name : "";
    return !name || e.title.includes(name) ? e.title : `${e.title} (${name})`;
  }
  if (e.standardVersion !== undefined) return `Standard ${e.standardVersion}: ${e.title}`;
  if (e.title !== undefined) return e.cveId ? `${e.title} (${e.cveId})` : e.title;
  if (e.lab !== undefined) return `${e.model ? `${e.model.name} ${e.model.modelVersion}`.trim() : "a model"} (${e.lab.name})`;
  return f.humanize(deadline.kind);
}

function deadlineTable(id, title, deadlines, total) {
  const captionId = `${id}-caption`;
  const shown = deadlines.length < total ? ` (the first ${f.formatNumber(deadlines.length)} shown)` : "";
  const table = h(
    "table",
    { id: `${id}-list`, class: "deadlines" },
    scrollCaption(captionId, `${title}: ${f.formatNumber(total)}${shown}`),
    h(
      "thead",
      {},
      h("tr", {}, ...["Deadline", "Kind", "Due", "When"].map((text) => h("th", { scope: "col" }, text))),
    ),
    h(
      "tbody",
      {},
      deadlines.length === 0
        ? h("tr", {}, h("td", { colspan: "4", class: "empty" }, "None."))
        : deadlines.map((d) =>
            h(
              "tr",
              { class: d.overdue ? "overdue" : d.daysLeft <= 2 ? "soon" : null, dataset: { id: d.entityId } },
              h("th", { scope: "row" }, h("span", { class: "what" }, f.capitalize(d.what)), h("span", { class: "sub" }, entityText(d))),
              h("td", {}, f.KIND_LABEL[d.kind] || f.humanize(d.kind)),
              h("td", {}, h("time", { datetime: d.dueOn }, f.formatDate(d.dueOn))),
              h("td", { class: d.overdue ? "late" : null }, d.overdue ? h("strong", {}, f.deadlineText(d.daysLeft)) : f.deadlineText(d.daysLeft)),
            ),
          ),
    ),
  );
  return scrollRegion(table, captionId, "tall");
}

function renderDeadlines() {
  const d = board.dashboard;
  // a lab liaison's dashboard lists only what concerns its lab, and only as due (docs/design.md, "Deadlines")
  $("overdue").replaceChildren(...(board.me?.lab ? [] : [deadlineTable("overdue", "Overdue", d.overdue, d.overdueCount)]));
  $("due-soon").replaceChildren(
    deadlineTable("due-soon", `Due within ${f.formatNumber(d.horizonDays)} days`, d.dueSoon, d.dueSoonCount),
  );
}

function windowOpen(agreement, now = new Date()) {
  return agreement.state === "ACTIVE" && f.toDate(agreement.accessStart) <= now && now < f.toDate(agreement.accessEnd);
}

function agreementRow(a) {
  const open = windowOpen(a);
  const daysLeft = f.daysFromToday(a.accessEnd);
  const soon = open && daysLeft <= 7;
  const mark = rowMark(a.id);
  const model = a.model ? `${a.model.name} ${a.model.modelVersion}`.trim() : "A model you may not see";
  const when = daysLeft === 0 ? "closes today" : `closes ${f.deadlineText(daysLeft)}`;
  const row = h(
    "tr",
    { dataset: { id: a.id }, class: [soon ? "soon" : null, open ? null : "stale"].filter(Boolean).join(" ") || null },
    h(
      "th",
      { scope: "row" },
      h("span", { class: "what" }, model),
      h("span", { class: "sub" }, a.lab.name),
      mark ? markerElement(mark.text) : null,
    ),
    h(
      "td",
      { class: soon ? "late" : null },
      open ? h("span", { class: "what" }, when) : h("span", { class: "what" }, `window closed (${f.humanize(a.state)})`),
      soon ? h("span", { class: "tag warn" }, "within 7 days") : null,
      h("span", { class: "sub" }, h("time", { datetime: a.accessEnd }, f.formatDateTime(a.accessEnd))),
      h("span", { class: "sub" }, "opened ", h("time", { datetime: a.accessStart }, f.formatDate(a.accessStart))),
    ),
    h("td", {}, a.accessKinds.map((kind) => (kind === "API" ? "API" : f.humanize(kind))).join(", ")),
    h(
      "td",
      {},
      h(
        "ul",
        { class: "plain" },
        a.parties.map((p) =>
          h(
            "li",
            {},
            h("span", { class: "nowrap" }, p.agency.code, " ", h("span", { class: p.acceptedAt ? "ok" : "muted" }, p.acceptedAt ? "accepted" : "not yet")),
          ),
        ),
      ),
    ),
  );
  if (mark) row.dataset.markUntil = String(mark.until);
  return row;
}

function agreementsCaption() {
  const open = [...board.agreements.values()].filter((a) => windowOpen(a));
  const soon = open.filter((a) => f.daysFromToday(a.accessEnd) <= 7).length;
  return `Preview windows open now: ${f.formatNumber(open.length)}, of which ${f.formatNumber(soon)} close within 7 days (lead time the program asks for: ${f.formatNumber(board.policy.previewLeadTimeDays)} days before general availability)`;
}

function renderAgreements() {
  const list = [...board.agreements.values()].sort((a, b) => f.toDate(a.accessEnd) - f.toDate(b.accessEnd));
  const table = h(
    "table",
    { id: "agreements-list" },
    scrollCaption("agreements-caption", agreementsCaption()),
    h("thead", {}, h("tr", {}, ...["Model", "Window closes", "Access", "Agencies"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      { id: "agreements-body" },
      list.length ? list.map(agreementRow) : h("tr", { class: "empty-row" }, h("td", { colspan: "4", class: "empty" }, "No preview window is open.")),
    ),
  );
  $("agreements-table").replaceChildren(scrollRegion(table, "agreements-caption"));
}

function standardRow(s) {
  const mark = rowMark(s.id);
  const signed = new Map(s.signoffs.map((x) => [x.agency.code, x.signedAt]));
  const required = s.requiredSignoffs;
  const have = required.filter((code) => signed.has(code)).length;
  const missing = required.filter((code) => !signed.has(code));
  const adopted = s.state === "ADOPTED" || s.state === "SUPERSEDED";
  const daysLeft = f.daysFromToday(s.dueOn);
  const late = !adopted && daysLeft < 0 && s.state !== "WITHDRAWN";
  const stateText = { ADOPTED: "In force", IN_REVIEW: "In review", DRAFT: "Draft" }[s.state] || f.humanize(s.state);
  const shown = SHOWN_STANDARD_STATES.includes(s.state);
  const row = h(
    "tr",
    { dataset: { id: s.id }, class: [late ? "overdue" : null, shown ? null : "stale"].filter(Boolean).join(" ") || null },
    h(
      "th",
      { scope: "row" },
      h("span", { class: "what" }, `${s.standardVersion}: ${s.title}`),
      s.supersededBy ? h("span", { class: "sub" }, `superseded by ${s.supersededBy.standardVersion}`) : null,
      mark ? markerElement(mark.text) : null,
    ),
    h("td", {}, h("span", { class: `state state-${s.state.toLowerCase()}` }, stateText)),
    h(
      "td",
      { class: have < required.length && !adopted ? "warn-text" : null },
      h("strong", {}, `${f.formatNumber(have)} of ${f.formatNumber(required.length)}`),
      h(
        "ul",
        { class: "plain" },
        required.map((code) =>
          h(
            "li",
            {},
            code,
            " ",
            signed.has(code)
              ? h("span", { class: "ok" }, "signed ", h("time", { datetime: signed.get(code) }, f.formatDate(signed.get(code))))
              : h("span", { class: "muted" }, "not yet signed"),
          ),
        ),
        s.signoffs.filter((x) => !required.includes(x.agency.code)).map((x) => h("li", {}, x.agency.code, " ", h("span", { class: "ok" }, "signed"))),
      ),
      missing.length && !adopted ? h("span", { class: "visually-hidden" }, `Waiting for ${missing.join(", ")}.`) : null,
    ),
    h(
      "td",
      { class: late ? "late" : null },
      h("time", { datetime: s.dueOn }, f.formatDate(s.dueOn)),
      h("span", { class: "sub" }, adopted ? `adopted ${f.formatDate(s.adoptedAt)}` : late ? h("strong", {}, f.deadlineText(daysLeft)) : f.deadlineText(daysLeft)),
    ),
  );
  if (mark) row.dataset.markUntil = String(mark.until);
  return row;
}

const STANDARD_ORDER = { ADOPTED: 0, IN_REVIEW: 1, DRAFT: 2 };

function renderStandards() {
  const list = [...board.standards.values()].sort(
    (a, b) => (STANDARD_ORDER[a.state] ?? 9) - (STANDARD_ORDER[b.state] ?? 9) || a.standardVersion.localeCompare(b.standardVersion),
  );
  const table = h(
    "table",
    { id: "standards-list" },
    scrollCaption(
      "standards-caption",
      `The standard in force and those in progress; adoption needs ${board.policy.requiredSignoffs.join(" and ")}`,
    ),
    h("thead", {}, h("tr", {}, ...["Standard", "State", "Sign-offs", "Due"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      { id: "standards-body" },
      list.length ? list.map(standardRow) : h("tr", { class: "empty-row" }, h("td", { colspan: "4", class: "empty" }, "No standard in force or in progress.")),
    ),
  );
  $("standards-table").replaceChildren(scrollRegion(table, "standards-caption"));
}

function findingMatches(x) {
  const filter = findingsFilter();
  return (
    f.OPEN_FINDING_STATES.includes(x.state) &&
    x.cvss !== null &&
    filter.severity.includes(x.cvss.severity) &&
    (!filter.sectors || x.sectors.some((s) => filter.sectors.includes(s)))
  );
}

function findingRow(x) {
  const mark = rowMark(x.id);
  const matches = findingMatches(x);
  const kevDays = x.kev?.dueDate ? f.daysFromToday(x.kev.dueDate) : null;
  // a KEV due date is a federal agency's own deadline (BOD 22-01): shown to a lab liaison as the catalogue's date only
  const agencyDeadline = !board.me?.lab;
  const kevLate = agencyDeadline && kevDays !== null && kevDays < 0 && f.OPEN_FINDING_STATES.includes(x.state);
  const details = [x.cveId, x.model ? `${x.model.name} ${x.model.modelVersion}`.trim() : null, x.lab?.name].filter(Boolean);
  const row = h(
    "tr",
    {
      dataset: { id: x.id, state: x.state },
      class: [kevLate ? "overdue" : null, matches ? null : "stale"].filter(Boolean).join(" ") || null,
    },
    h(
      "th",
      { scope: "row" },
      h("span", { class: "what" }, x.title),
      details.length ? h("span", { class: "sub" }, details.join(" · ")) : null,
      mark ? markerElement(mark.text) : null,
    ),
    h("td", {}, f.severityLabel(x.cvss)),
    h("td", { class: "state-cell" }, f.humanize(x.state), matches ? null : h("span", { class: "sub" }, "no longer in this list")),
    h("td", {}, f.tlpLabel(x.tlp), x.ownerAgency ? h("span", { class: "sub" }, `owner ${x.ownerAgency.code}`) : null),
    h("td", {}, x.sectors.length ? x.sectors.map(f.sectorLabel).join(", ") : h("span", { class: "muted" }, "none")),
    h(
      "td",
      { class: kevLate ? "late" : null },
      x.kev?.dueDate
        ? [
            h("time", { datetime: x.kev.dueDate }, f.formatDate(x.kev.dueDate)),
            agencyDeadline
              ? h("span", { class: "sub" }, kevLate ? h("strong", {}, f.deadlineText(kevDays)) : f.deadlineText(kevDays))
              : null,
          ]
        : h("span", { class: "muted" }, "not in KEV"),
    ),
    h(
      "td",
      {},
      x.measures.nodes.length
        ? h("ul", { class: "plain" }, x.measures.nodes.map((m) => h("li", { dataset: { id: m.id } }, m.title, " ", h("span", { class: "muted" }, `(${f.humanize(m.state)})`))))
        : h("span", { class: "muted" }, "none"),
    ),
    h(
      "td",
      {},
      x.engagements.nodes.length
        ? h("ul", { class: "plain" }, x.engagements.nodes.map((e) => h("li", { dataset: { id: e.id } }, e.title, " ", h("span", { class: "muted" }, `(${f.humanize(e.state)})`))))
        : h("span", { class: "muted" }, "none"),
    ),
  );
  if (mark) row.dataset.markUntil = String(mark.until);
  return row;
}

function findingsCountText() {
  const shown = $("findings-body")?.querySelectorAll("tr[data-id]").length ?? board.findings.size;
  return `${f.formatNumber(shown)} shown of ${f.formatNumber(board.findingsTotal)}`;
}

function renderFindings() {
  const filter = findingsFilter();
  const severities = filter.severity.length ? filter.severity.map(f.humanize).join(" and ") : "no severity chosen";
  const where = filter.sectors ? f.sectorLabel(filter.sectors[0]) : "all sectors";
  const order = filter.orderBy.field === "BASE_SCORE" ? "highest score first" : "newest first";
  const list = [...board.findings.values()];
  const table = h(
    "table",
    { id: "findings-list", class: "findings" },
    scrollCaption(
      "findings-caption",
      `Open findings, ${severities}, ${where}, ${order}: `,
      h("span", { id: "findings-caption-count" }, ""),
    ),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ...["Finding", "Severity", "State", "TLP", "Sectors", "KEV due", "DoD measures", "CISA engagements"].map((t) =>
          h("th", { scope: "col" }, t),
        ),
      ),
    ),
    h(
      "tbody",
      { id: "findings-body" },
      list.length ? list.map(findingRow) : h("tr", { class: "empty-row" }, h("td", { colspan: "8", class: "empty" }, "No open finding matches.")),
    ),
  );
  $("findings-table").replaceChildren(scrollRegion(table, "findings-caption"));
  $("findings-caption-count").textContent = findingsCountText();
}

// ------------------------------------------------------------------------------------------------ rows in place

function rowOf(tbodyId, id) {
  for (const row of $(tbodyId).querySelectorAll("tr[data-id]")) {
    if (row.dataset.id === id) return row;
  }
  return null;
}

/** Put `row` where `before(other)` first says it belongs; false when it belongs past the rows shown. */
function insertRow(tbodyId, row, before, { truncated = false } = {}) {
  const body = $(tbodyId);
  body.querySelector("tr.empty-row")?.remove();
  for (const other of body.querySelectorAll("tr[data-id]")) {
    if (before(other)) {
      other.before(row);
      return true;
    }
  }
  if (truncated) return false;
  body.append(row);
  return true;
}

function changeText(event) {
  if (event.action === "ACCESS_REVOKED") return "no longer visible to you";
  if (event.fromState && event.toState && event.fromState !== event.toState) {
    return `${f.humanize(event.fromState)} → ${f.humanize(event.toState)}`;
  }
  if (!event.fromState && event.toState) return `new (${f.humanize(event.toState)})`;
  return f.humanize(event.action);
}

function applyFinding(id, finding, event) {
  const existing = rowOf("findings-body", id);
  if (!finding) {
    if (existing) {
      existing.remove();
      board.findings.delete(id);
      return { removed: true };
    }
    return null;
  }
  const matches = findingMatches(finding);
  if (!existing && !matches) return null;
  const until = Date.now() + MARK_MS;
  if (event) markRow(id, changeText(event));
  const row = findingRow(finding);
  if (existing) {
    existing.replaceWith(row);
    board.findings.set(id, finding);
  } else {
    const field = findingsFilter().orderBy.field;
    const key = (x) => (field === "BASE_SCORE" ? x.cvss?.baseScore ?? 0 : f.toDate(x.createdAt).getTime());
    const placed = insertRow(
      "findings-body",
      row,
      (other) => {
        const shown = board.findings.get(other.dataset.id);
        return !shown || key(finding) > key(shown);
      },
      { truncated: board.findings.size >= FINDINGS_SHOWN },
    );
    if (!placed) return null;
    board.findings.set(id, finding);
  }
  if (event) flash(row, until);
  return { title: finding.title };
}

function applyAgreement(id, agreement, event) {
  const existing = rowOf("agreements-body", id);
  if (!agreement) {
    if (existing) existing.remove();
    const had = board.agreements.delete(id);
    $("agreements-caption").textContent = agreementsCaption();
    return had ? { removed: true } : null;
  }
  if (!existing && !windowOpen(agreement)) return null;
  board.agreements.set(id, agreement);
  if (event) markRow(id, changeText(event));
  const row = agreementRow(agreement);
  if (existing) existing.replaceWith(row);
  else insertRow("agreements-body", row, (other) => f.toDate(board.agreements.get(other.dataset.id)?.accessEnd ?? 0) > f.toDate(agreement.accessEnd));
  if (event) flash(row, Date.now() + MARK_MS);
  $("agreements-caption").textContent = agreementsCaption();
  return { title: agreement.model ? agreement.model.name : "an agreement" };
}

function applyStandard(id, standard, event) {
  const existing = rowOf("standards-body", id);
  if (!standard) {
    if (existing) existing.remove();
    return board.standards.delete(id) ? { removed: true } : null;
  }
  if (!existing && !SHOWN_STANDARD_STATES.includes(standard.state)) return null;
  board.standards.set(id, standard);
  if (event) markRow(id, changeText(event));
  const row = standardRow(standard);
  if (existing) existing.replaceWith(row);
  else insertRow("standards-body", row, (other) => (STANDARD_ORDER[board.standards.get(other.dataset.id)?.state] ?? 9) > (STANDARD_ORDER[standard.state] ?? 9));
  if (event) flash(row, Date.now() + MARK_MS);
  return { title: `standard ${standard.standardVersion}` };
}

// ------------------------------------------------------------------------------------------------ live events

function onEvent(event) {
  board.pending.push(event);
  if (!board.flushTimer) board.flushTimer = setTimeout(flush, BATCH_MS);
}

async function nodesOf(operation, ids) {
  if (ids.length === 0) return new Map();
  const data = await board.api.run(operation, { ids });
  return new Map(ids.map((id, i) => [id, data.nodes[i]]));
}

async function flush() {
  board.flushTimer = null;
  if (board.flushing) return; // the running flush picks the rest up
  board.flushing = true;
  const generation = board.generation;
  try {
    while (board.pending.length && generation === board.generation) {
      const events = board.pending.splice(0);
      await applyEvents(events, generation);
    }
    if (generation === board.generation) clearError();
  } catch (error) {
    if (generation === board.generation) handleError(error);
  } finally {
    board.flushing = false;
  }
}

async function applyEvents(events, generation) {
  if (events.length > FULL_RELOAD_OVER) {
    await loadAll();
    logChange(`${f.formatNumber(events.length)} changes at once: the board was reloaded.`, events.at(-1).at);
    return;
  }
  const last = new Map(); // entity id -> its latest event in this batch
  for (const event of events) if (event.entityId) last.set(event.entityId, event);
  const ids = (kind) => [...last.values()].filter((e) => e.entityKind === kind).map((e) => e.entityId);
  const findingIds = new Set(ids("FINDING"));
  const linkIds = [...ids("MEASURE"), ...ids("ENGAGEMENT")];
  const [agreements, standards, links] = await Promise.all([
    nodesOf("board_agreements_by_id", ids("AGREEMENT")),
    nodesOf("board_standards_by_id", ids("STANDARD")),
    nodesOf("board_linked_findings", linkIds),
    loadDashboard({ mark: true }),
  ]);
  // a measure or engagement changed: refresh the findings it addresses and those that listed it
  const linkedBy = new Map(); // finding id -> the measure or engagement event that touched it
  for (const id of linkIds) {
    const node = links.get(id);
    for (const finding of node?.findings?.nodes ?? []) if (board.findings.has(finding.id)) linkedBy.set(finding.id, last.get(id));
    for (const item of document.querySelectorAll("#findings-body li[data-id]")) {
      if (item.dataset.id === id) linkedBy.set(item.closest("tr").dataset.id, last.get(id));
    }
  }
  for (const id of linkedBy.keys()) findingIds.add(id);
  const findings = await nodesOf("board_findings_by_id", [...findingIds]);
  if (generation !== board.generation) return;

  for (const event of last.values()) {
    const id = event.entityId;
    let applied = null;
    if (event.entityKind === "FINDING") applied = applyFinding(id, findings.get(id), event);
    else if (event.entityKind === "AGREEMENT") applied = applyAgreement(id, agreements.get(id), event);
    else if (event.entityKind === "STANDARD") applied = applyStandard(id, standards.get(id), event);
    logEvent(event, applied);
  }
  for (const [id, event] of linkedBy) {
    if (last.has(id)) continue;
    const what = `${event.entityKind === "MEASURE" ? "measure" : "engagement"} ${f.humanize(event.toState || event.action).toLowerCase()}`;
    applyFinding(id, findings.get(id), { ...event, fromState: null, toState: null, action: what });
  }
  if (findingIds.size) await refreshFindingsTotal();
}

function logEvent(event, applied) {
  const kind = (f.KIND_LABEL[event.entityKind] || f.humanize(event.entityKind)).replace(/s$/, "");
  const by = event.actorAgency?.code || event.actorLab?.name;
  let text;
  if (applied?.removed) {
    text = `${kind}: no longer visible to you, removed from the board`;
  } else if (event.action === "ACCESS_REVOKED") {
    text = `${kind}: no longer visible to you`;
  } else {
    const title = applied?.title ? ` “${applied.title}”` : "";
    text = `${kind}${title}: ${changeText(event)}${by ? ` (by ${by})` : ""}`;
  }
  logChange(text, event.at);
}

function logChange(text, at) {
  const list = $("change-log");
  list.prepend(h("li", {}, h("time", { datetime: at }, f.formatTime(at || new Date())), " ", text));
  while (list.children.length > LOG_LENGTH) list.lastElementChild.remove();
  $("announcer").textContent = text;
}

// ------------------------------------------------------------------------------------------------ the connection

function setStatus(state, text) {
  const status = $("live-status");
  status.dataset.state = state;
  status.textContent = text;
}

function cursorCompare(a, b) {
  if (a === null || b === null) return 0;
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  return a === b ? 0 : NaN;
}

function websocketUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
}

/** statusChanged over graphql-transport-ws, resumed from the last cursor after any drop. */
class Live {
  constructor(token, since) {
    this.token = token;
    this.cursor = since;
    this.connection = null;
    this.connecting = false;
    this.stopped = false;
    this.offlineSince = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.catchUp = null;
    this.onOnline = () => {
      this.attempt = 0;
      this.connect();
    };
    this.onOffline = () => this.dropped("the browser is offline");
  }

  start() {
    addEventListener("online", this.onOnline);
    addEventListener("offline", this.onOffline);
    this.connect();
  }

  stop() {
    this.stopped = true;
    removeEventListener("online", this.onOnline);
    removeEventListener("offline", this.onOffline);
    clearTimeout(this.retryTimer);
    clearTimeout(this.catchUp?.timer);
    this.connection?.close(CLOSE.NORMAL, "signed out");
    this.connection = null;
  }

  async connect() {
    if (this.stopped || this.connecting || this.connection) return;
    clearTimeout(this.retryTimer);
    this.connecting = true;
    const resuming = this.offlineSince !== null;
    let connection = null;
    try {
      // what a resumed subscription has to catch up to: the newest event now
      const target = resuming ? await latestCursor() : null;
      const query = await operationText("board_status_changed");
      connection = new GraphQLWsConnection(websocketUrl(), { authorization: `Bearer ${this.token}` }, {
        onClose: (event) => {
          if (connection === this.connection) this.closed(event);
        },
      });
      this.connection = connection;
      await connection.open();
      if (this.stopped || connection !== this.connection) return;
      connection.subscribe(
        // no cursor yet (nothing visible when the board opened): from the start, so nothing since is missed
        { query, variables: { since: this.cursor ?? "0" } },
        {
          next: (payload) => this.next(payload),
          error: (errors) => this.failed(connection, errors),
          complete: () => this.dropped("the hub ended the subscription"),
        },
      );
      this.attempt = 0;
      if (resuming) this.startCatchUp(target);
      else setStatus("live", "Live");
    } catch (error) {
      if (this.stopped) return;
      if (error instanceof AuthError || error.code === CLOSE.FORBIDDEN) {
        sessionEnded();
        return;
      }
      if (connection && connection === this.connection) {
        connection.close();
        this.connection = null;
      }
      this.markOffline();
      this.retry();
    } finally {
      this.connecting = false;
    }
  }

  closed(event) {
    this.connection = null;
    if (this.stopped) return;
    if (event.code === CLOSE.FORBIDDEN) {
      sessionEnded();
      return;
    }
    if (!event.acknowledged) return; // open() rejects too: connect() retries
    this.markOffline();
    this.retry();
  }

  dropped(why) {
    if (this.stopped) return;
    if (this.connection) {
      this.connection.close(CLOSE.NORMAL, why);
      this.connection = null;
    }
    this.markOffline();
    this.retry();
  }

  failed(connection, errors) {
    const message = errors?.[0]?.message || "the subscription failed";
    handleError(new ApiError(message, { code: errors?.[0]?.extensions?.code || null }));
    if (connection === this.connection) {
      connection.close();
      this.connection = null;
    }
    this.markOffline();
    this.attempt = Math.max(this.attempt, 3);
    this.retry();
  }

  markOffline() {
    if (this.offlineSince === null) this.offlineSince = Date.now();
    if (this.catchUp) {
      clearTimeout(this.catchUp.timer);
      this.catchUp = null;
    }
    const since = f.formatTime(new Date(this.offlineSince));
    const why = navigator.onLine === false ? "the browser is offline" : "the connection dropped";
    setStatus("offline", `Offline since ${since} (${why}); reconnecting…`);
  }

  retry() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    // offline: the `online` event reconnects at once; the timer is a fallback
    const delay = navigator.onLine === false ? 15_000 : Math.min(1000 * 2 ** this.attempt, 15_000);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  startCatchUp(target) {
    const offlineFor = Date.now() - this.offlineSince;
    this.offlineSince = null;
    this.catchUp = { offlineFor, target, count: 0, timer: null };
    setStatus("catching-up", `Back after ${f.durationText(offlineFor)} offline; catching up…`);
    const compared = cursorCompare(target, this.cursor ?? "0");
    if (target === null || compared <= 0) {
      this.finishCatchUp();
    } else {
      // the newest event is normally replayed; should it not be (it went out of sight), stop waiting
      this.catchUp.timer = setTimeout(() => this.finishCatchUp(), 5000);
    }
  }

  finishCatchUp() {
    const catchUp = this.catchUp;
    if (!catchUp) return;
    clearTimeout(catchUp.timer);
    this.catchUp = null;
    const n = catchUp.count;
    const text = `Live again: offline for ${f.durationText(catchUp.offlineFor)}, caught up with ${f.formatNumber(n)} ${n === 1 ? "change" : "changes"}.`;
    setStatus("live", text);
    logChange(text, new Date().toISOString());
  }

  next(payload) {
    if (payload.errors?.length) {
      handleError(new ApiError(payload.errors[0].message, { code: payload.errors[0].extensions?.code || null }));
      return;
    }
    const event = payload.data?.statusChanged;
    if (!event) return;
    this.cursor = event.cursor;
    onEvent(event);
    if (this.catchUp) {
      const compared = cursorCompare(event.cursor, this.catchUp.target);
      if (compared <= 0 || Number.isNaN(compared)) this.catchUp.count += 1;
      if (compared >= 0) this.finishCatchUp();
    }
  }
}

// ------------------------------------------------------------------------------------------------ start

function setUp() {
  const select = $("sector");
  for (const [value, label] of Object.entries(f.SECTORS)) select.append(h("option", { value }, label));
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("token").value.trim().replace(/^Bearer\s+/i, "");
    if (!token) {
      showSignIn("Paste a token first.", { error: true });
      return;
    }
    $("token").value = "";
    $("token-error").textContent = "Checking the token…";
    $("token-error").classList.add("notice");
    signIn(token, { typed: true });
  });
  $("sign-out").addEventListener("click", () => signOut("Signed out: the token was removed from this tab."));
  $("findings-filter").addEventListener("change", () => {
    if (board.api) loadFindings().then(clearError, handleError);
  });
  $("findings-filter").addEventListener("submit", (event) => event.preventDefault());
  setInterval(expireMarkers, 1000);
  const token = storedToken();
  if (token) {
    $("signin").hidden = true;
    signIn(token, { typed: false });
  } else {
    showSignIn("", { focus: false });
  }
}

setUp();
