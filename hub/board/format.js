// Formatting: dates in the user's locale (Intl), deadlines in days, labels for the schema's enums, and a tiny
// DOM builder that only ever sets text (never HTML), since titles come from other agencies and labs.

const DAY_MS = 24 * 60 * 60 * 1000;

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const numberFormat = new Intl.NumberFormat();
const scoreFormat = new Intl.NumberFormat(undefined, { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** A calendar date ("2026-11-28") as local midnight, or an instant ("2026-11-28T17:00:00+00:00") as it is. */
export function toDate(value) {
  if (value instanceof Date) return value;
  const plain = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (plain) return new Date(Number(plain[1]), Number(plain[2]) - 1, Number(plain[3]));
  return new Date(value);
}

export function formatDate(value) {
  return value ? dateFormat.format(toDate(value)) : "";
}

export function formatDateTime(value) {
  return value ? dateTimeFormat.format(toDate(value)) : "";
}

export function formatTime(value) {
  return timeFormat.format(toDate(value));
}

export function formatNumber(value) {
  return numberFormat.format(value);
}

export function formatScore(value) {
  return scoreFormat.format(value);
}

/** Calendar days from today (in the user's time zone) to the day of `value`: 0 today, -2 two days ago. */
export function daysFromToday(value, now = new Date()) {
  const then = toDate(value);
  const a = Date.UTC(now.getFullYear(), now.getMonth(), now.getDate());
  const b = Date.UTC(then.getFullYear(), then.getMonth(), then.getDate());
  return Math.round((b - a) / DAY_MS);
}

function days(n) {
  return `${formatNumber(n)} ${n === 1 ? "day" : "days"}`;
}

/** "in 3 days", "due today", "2 days overdue". */
export function deadlineText(daysLeft) {
  if (daysLeft > 0) return `in ${days(daysLeft)}`;
  if (daysLeft === 0) return "due today";
  return `${days(-daysLeft)} overdue`;
}

/** "12 s", "3 min 4 s", "2 h 5 min". */
export function durationText(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function capitalize(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
}

/** "MITIGATION_AVAILABLE" -> "Mitigation available". */
export function humanize(value) {
  if (!value) return "";
  const text = String(value).replaceAll("_", " ").toLowerCase();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export const SECTORS = {
  CHEMICAL: "Chemical",
  COMMERCIAL_FACILITIES: "Commercial Facilities",
  COMMUNICATIONS: "Communications",
  CRITICAL_MANUFACTURING: "Critical Manufacturing",
  DAMS: "Dams",
  DEFENSE_INDUSTRIAL_BASE: "Defense Industrial Base",
  EMERGENCY_SERVICES: "Emergency Services",
  ENERGY: "Energy",
  FINANCIAL_SERVICES: "Financial Services",
  FOOD_AND_AGRICULTURE: "Food and Agriculture",
  GOVERNMENT_FACILITIES: "Government Facilities",
  HEALTHCARE_AND_PUBLIC_HEALTH: "Healthcare and Public Health",
  INFORMATION_TECHNOLOGY: "Information Technology",
  NUCLEAR_REACTORS_MATERIALS_AND_WASTE: "Nuclear Reactors, Materials, and Waste",
  TRANSPORTATION_SYSTEMS: "Transportation Systems",
  WATER_AND_WASTEWATER_SYSTEMS: "Water and Wastewater Systems",
};

export function sectorLabel(sector) {
  return SECTORS[sector] || humanize(sector);
}

/** FIRST TLP 2.0 labels: the text, in its colour, on black. */
export const TLP_TEXT = {
  CLEAR: "TLP:CLEAR",
  GREEN: "TLP:GREEN",
  AMBER: "TLP:AMBER",
  AMBER_STRICT: "TLP:AMBER+STRICT",
  RED: "TLP:RED",
};

/** The kinds the dashboard counts, in the order the board shows them, and their states in lifecycle order. */
export const KINDS = [
  ["FINDING", "Findings", ["REPORTED", "TRIAGED", "VALIDATED", "COORDINATING", "MITIGATION_AVAILABLE", "DISCLOSED", "REMEDIATED", "DUPLICATE", "REJECTED"]],
  ["MEASURE", "Measures", ["PLANNED", "DEPLOYING", "DEPLOYED", "VERIFIED", "RETIRED", "SUSPENDED"]],
  ["ENGAGEMENT", "Engagements", ["PROPOSED", "SCOPING", "ACTIVE", "PAUSED", "COMPLETED", "DECLINED", "WITHDRAWN"]],
  ["AGREEMENT", "Agreements", ["PROPOSED", "ACTIVE", "COMPLETED", "WITHDRAWN_BY_LAB", "TERMINATED"]],
  ["STANDARD", "Standards", ["DRAFT", "IN_REVIEW", "ADOPTED", "SUPERSEDED", "WITHDRAWN"]],
  ["DECISION", "Decisions", ["REQUESTED", "UNDER_ASSESSMENT", "AWAITING_CONCURRENCE", "DECIDED", "RECONSIDERATION_REQUESTED", "SUPERSEDED", "WITHDRAWN"]],
  ["DESIGNATION", "Designations", ["IN_FORCE", "WITHDRAWN"]],
  ["MODEL", "Models", ["IN_DEVELOPMENT", "RESTRICTED_PREVIEW", "GENERALLY_AVAILABLE", "DEPRECATED"]],
  ["LAB", "Labs", ["INVITED", "ENGAGED", "PARTICIPATING", "DECLINED", "WITHDRAWN"]],
  ["POLICY_VERSION", "Policy versions", ["PROPOSED", "IN_EFFECT", "SUPERSEDED", "WITHDRAWN"]],
  ["REQUEST", "Requests", ["OPEN", "COUNTER_PROPOSED", "ACCEPTED", "DECLINED", "WITHDRAWN"]],
  ["WEBHOOK", "Webhook endpoints", ["ENABLED", "DISABLED", "DELETED"]],
];

export const KIND_LABEL = Object.fromEntries(KINDS.map(([kind, label]) => [kind, label]));

export const OPEN_FINDING_STATES = ["REPORTED", "TRIAGED", "VALIDATED", "COORDINATING", "MITIGATION_AVAILABLE", "DISCLOSED"];

/**
 * h("td", {class: "x", dataset: {id}}, "text", child): an element with attributes and children. Strings become
 * text nodes; null and false are skipped; arrays are flattened.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "class") element.className = value;
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else if (child instanceof Node) element.append(child);
    else element.append(document.createTextNode(String(child)));
  }
}

export function tlpLabel(tlp) {
  return h("span", { class: `tlp tlp-${String(tlp).toLowerCase().replace("_", "-")}` }, TLP_TEXT[tlp] || tlp);
}

export function severityLabel(cvss) {
  if (!cvss) return h("span", { class: "severity severity-none" }, "unscored");
  return h(
    "span",
    { class: `severity severity-${cvss.severity.toLowerCase()}` },
    `${humanize(cvss.severity)} ${formatScore(cvss.baseScore)}`,
  );
}
