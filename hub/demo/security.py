"""The security side of the demo: findings grounded in KEV, DoD cyber measures and CISA engagements."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hub.demo import content as c
from hub.demo import cvss
from hub.demo.context import FICTIONAL, DemoContext, DemoFinding, DemoModel, load_kev
from hub.kinds import KINDS

FINDING_COUNT = 2100
FINDING_STATE_SHARES = {
    "REPORTED": 10,
    "TRIAGED": 11,
    "VALIDATED": 11,
    "COORDINATING": 12,
    "MITIGATION_AVAILABLE": 11,
    "DISCLOSED": 12,
    "REMEDIATED": 23,
    "DUPLICATE": 5,
    "REJECTED": 5,
}
# the registry's open findings (hub/kinds.py), in the machine's order so that the demo's draws stay the same
OPEN_FINDING_STATES = tuple(s for s in KINDS["FINDING"].states if s in KINDS["FINDING"].subset("open"))
TLP_SHARES = {"CLEAR": 10, "GREEN": 30, "AMBER": 40, "AMBER_STRICT": 15, "RED": 5}
# Who owns findings: CISA most, then the agencies closest to model-found vulnerabilities.
OWNER_AGENCY_WEIGHTS = {
    "CISA": 45, "NSA": 12, "DOD": 12, "NIST": 8, "DOE": 6, "HHS": 5, "TREASURY": 5, "EPA": 4, "ODNI": 3,
}  # fmt: skip
MEASURE_STATES = {
    "PLANNED": 35,
    "DEPLOYING": 35,
    "DEPLOYED": 45,
    "VERIFIED": 45,
    "RETIRED": 22,
    "SUSPENDED": 18,
}
MEASURE_TLP_SHARES = {"CLEAR": 10, "GREEN": 35, "AMBER": 40, "AMBER_STRICT": 10, "RED": 5}
ENGAGEMENT_STATES = {
    "PROPOSED": 14,
    "SCOPING": 18,
    "ACTIVE": 36,
    "COMPLETED": 24,
    "PAUSED": 10,
    "DECLINED": 9,
    "WITHDRAWN": 9,
}
ENGAGEMENT_KIND_WEIGHTS = {
    "TOOL_ACCESS": 3,
    "CVD_COORDINATION": 3,
    "CLEARINGHOUSE_SCAN": 2,
    "SECURE_BY_DESIGN": 2,
    "ADVISORY": 2,
}
CLOSED_FINDING_STATES = ("DUPLICATE", "REJECTED")

_Novel = tuple[tuple[str, str], tuple[str, str]]  # ((weakness, CWE), (vendor, product))
_Milestone = tuple[int, str, date, date | None]  # (engagement id, title, due on, completed on)


async def insert_security(ctx: DemoContext) -> None:
    """Findings, then the measures and engagements that link to them."""
    await insert_findings(ctx)
    await insert_measures(ctx)
    await insert_engagements(ctx)


@dataclass
class _Grounding:
    """What a finding is about: a KEV entry's facts, a novel weakness in a fictional product, or a flaw in a
    fictional model."""

    title: str
    vendor: str
    product: str
    subject: str  # how a description names it
    cve_id: str | None = None
    cwes: list[str] = field(default_factory=list)
    kev_date_added: date | None = None
    kev_due_date: date | None = None
    ransomware: str | None = None
    versions: str | None = None


def _grounding(kev: dict[str, Any] | None, novel: _Novel | None) -> _Grounding:
    if kev is not None:
        # the catalogue's facts exactly as published: its due date is a federal agency's own deadline (BOD 22-01),
        # long past for most entries, and is never moved
        vendor, product, cve_id = kev["vendorProject"], kev["product"], kev["cveID"]
        label = product if product.startswith(vendor) else f"{vendor} {product}"
        return _Grounding(
            title=kev["vulnerabilityName"],
            vendor=vendor,
            product=product,
            subject=f"{label} ({cve_id})",
            cve_id=cve_id,
            cwes=list(kev["cwes"]),
            kev_date_added=date.fromisoformat(kev["dateAdded"]),
            kev_due_date=date.fromisoformat(kev["dueDate"]),
            ransomware="KNOWN" if kev["knownRansomwareCampaignUse"] == "Known" else "UNKNOWN",
        )
    assert novel is not None
    (weakness, cwe), (vendor, product) = novel
    return _Grounding(
        title=f"{product}: {weakness}",
        vendor=vendor,
        product=product,
        subject=f"{product} by {vendor}",
        cwes=[cwe],
        versions="all versions before the vendor's fix (fictional)",
    )


def _cvss(ctx: DemoContext, state: str) -> tuple[str | None, str | None, Decimal | None, str | None]:
    """(version, vector, base score, severity); a few new reports are not scored yet."""
    rng = ctx.rng
    if state == "REPORTED" and rng.random() < 0.2:
        return None, None, None, None
    if rng.random() < 0.05:
        vector, score = rng.choice(cvss.CVSS4_VECTORS)
        return "4.0", vector, Decimal(str(score)), cvss.severity(score)
    vector = cvss.random_vector_v31(rng)
    score = cvss.base_score_v31(vector)
    return "3.1", vector, Decimal(str(score)), cvss.severity(score)


def _sectors(ctx: DemoContext, vendor: str) -> list[str]:
    rng = ctx.rng
    preferred = c.VENDOR_SECTORS.get(vendor)
    count = rng.choices((1, 2, 3), weights=(5, 3, 2))[0]
    sectors: list[str] = [rng.choice(preferred)] if preferred else []
    while len(sectors) < count:
        sector = ctx.weighted(c.SECTOR_WEIGHTS)
        if sector not in sectors:
            sectors.append(sector)
    return sorted(sectors)


def _description(model: DemoModel | None, kind: str, who: str, grounding: _Grounding, flaw: bool) -> str:
    g = grounding
    if g.cve_id is not None and g.kev_date_added is not None and g.kev_due_date is not None:
        text = (
            f"Demo finding grounded in CISA's Known Exploited Vulnerabilities catalogue: {g.subject}, added to the "
            f"catalogue on {g.kev_date_added.isoformat()} with the due date {g.kev_due_date.isoformat()} it sets "
            f"for federal agencies (BOD 22-01). {who} tracks it in the program. The catalogue's facts are as "
            "published; the tracking is invented."
        )
    elif flaw and model is not None:
        text = f"Demo finding: {who} testers found this in {model.label} while evaluating it."
    elif kind == "MODEL" and model is not None:
        text = f"Demo finding: {model.label} flagged {g.subject} during a preview evaluation."
    elif model is not None:
        text = f"Demo finding: {who} analysts found {g.subject} while evaluating {model.label}."
    else:
        text = f"Demo finding: {who} analysts found {g.subject} in a scan of internet-exposed systems."
    return f"{text} {FICTIONAL}"


@dataclass
class _Discovery:
    """Who found a finding and what it is about (docs/design.md, "Demo data")."""

    kind: str  # KEV_CATALOGUE, MODEL or AGENCY: the demo credits no lab and no real model
    model: DemoModel | None
    flaw: bool = False  # a flaw in the model itself


def _discovery(
    ctx: DemoContext, kev: dict[str, Any] | None, fictional_models: list[DemoModel], weights: list[float]
) -> tuple[_Discovery, _Novel | None]:
    """A new finding's discovery and, unless it is a KEV entry, its novel grounding."""
    rng = ctx.rng
    if kev is not None:
        # a real, known-exploited vulnerability: attributed to the catalogue, never to a model
        return _Discovery("KEV_CATALOGUE", None), None
    if rng.random() < 0.25:
        model = rng.choice(fictional_models)
        flaw = rng.choice(c.MODEL_FLAWS)
        return _Discovery("AGENCY", model, flaw=True), (flaw, (ctx.lab_name(model.lab_id), model.name))
    novel = (rng.choice(c.NOVEL_WEAKNESSES), rng.choice(c.NOVEL_PRODUCTS))
    if rng.random() < 0.15:
        return _Discovery("AGENCY", None), novel
    model = rng.choices(fictional_models, weights=weights)[0]
    return _Discovery(rng.choices(("MODEL", "AGENCY"), weights=(75, 25))[0], model), novel


async def insert_findings(ctx: DemoContext) -> None:
    """Findings: most grounded in KEV entries (some entries more than once), attributed to the catalogue; the rest
    fictional: novel flaws in fictional products, found by fictional models or by agencies, and flaws in fictional
    models. Agency officers write every one of them; no finding is about a real lab's model."""
    rng = ctx.rng
    kev = load_kev()
    rng.shuffle(kev)
    states = ctx.deal_shares(FINDING_STATE_SHARES, FINDING_COUNT)
    tlps = ctx.deal_shares(TLP_SHARES, FINDING_COUNT)
    fictional_models = [m for m in ctx.models if c.is_fictional(m.name)]
    # models that find vulnerabilities find most of the novel ones
    model_weights = [
        5.0 if "vulnerability-discovery" in m.capabilities else 2.0 if "code" in m.capabilities else 0.3
        for m in fictional_models
    ]
    officers = sorted(ctx.officers.values())
    discoveries: dict[int, _Discovery] = {}
    ids = await ctx.reserve_ids("findings", FINDING_COUNT)
    rows: list[dict[str, Any]] = []
    for finding_id, state, tlp in zip(ids, states, tlps, strict=True):
        original = None
        if state == "DUPLICATE":
            originals = [f for f in ctx.findings if f.state not in CLOSED_FINDING_STATES]
            original = rng.choice(originals) if originals else None
        kev_entry: dict[str, Any] | None = None
        novel: _Novel | None = None
        if original is not None:
            kev_entry, novel = original.kev, original.novel
            discovery = discoveries[original.id]
        else:
            if rng.random() < 0.8:
                kev_entry = kev[len(ctx.findings) % len(kev)]
            discovery, novel = _discovery(ctx, kev_entry, fictional_models, model_weights)
        discoveries[finding_id] = discovery
        grounding = _grounding(kev_entry, novel)

        model = discovery.model
        owner = ctx.weighted(OWNER_AGENCY_WEIGHTS)
        discovering_agency = None
        if discovery.kind == "AGENCY":
            discovering_agency = owner if rng.random() < 0.8 else rng.choice(c.AGENCY_CODES)
        lab_id = model.lab_id if model else None

        share_agencies: list[int] = []
        share_labs: list[int] = []
        recipients: list[int] = []
        created_by = ctx.officers[owner]  # an agency officer: labs report no demo finding
        if tlp == "AMBER":
            share_agencies = ctx.other_agency_ids([owner], rng.randint(0, 3))
            if lab_id is not None and rng.random() < 0.4:
                share_labs = [lab_id]
        elif tlp == "RED":
            candidates = [p for p in officers if p != created_by]
            recipients = sorted(rng.sample(candidates, rng.randint(1, 2)))

        cvss_version, vector, score, severity = _cvss(ctx, state)
        sectors = original.sectors if original is not None else _sectors(ctx, grounding.vendor)
        g = grounding
        rows.append(
            {
                "id": finding_id,
                "title": g.title,
                "description": _description(model, discovery.kind, discovering_agency or owner, g, discovery.flaw),
                "state": state,
                "model_id": model.id if model else None,
                "lab_id": lab_id,
                "discovered_by_kind": discovery.kind,
                "discovered_by_agency_id": ctx.agency_ids[discovering_agency] if discovering_agency else None,
                "discovered_by_lab_id": None,
                "cve_id": g.cve_id,
                "cvss_version": cvss_version,
                "cvss_vector": vector,
                "cvss_base_score": score,
                "cvss_severity": severity,
                "kev_date_added": g.kev_date_added,
                "kev_due_date": g.kev_due_date,
                "kev_known_ransomware_campaign_use": g.ransomware,
                "cwes": g.cwes,
                "affected_vendor": g.vendor,
                "affected_product": g.product,
                "affected_versions": (model.model_version or None) if discovery.flaw and model else g.versions,
                "sectors": sectors,
                "duplicate_of_id": original.id if original else None,
                "tlp": tlp,
                "owner_agency_id": ctx.agency_ids[owner],
                "share_agency_ids": share_agencies,
                "share_lab_ids": share_labs,
                "recipient_principal_ids": recipients,
                "created_by": created_by,
            }
        )
        ctx.findings.append(
            DemoFinding(finding_id, state, model, g.cve_id, g.vendor, g.product, severity, sectors, kev_entry, novel)
        )
        ctx.event("FINDING", finding_id, state, created_by=created_by, transitioned_by=created_by)
    await ctx.copy_rows("findings", rows)


async def insert_measures(ctx: DemoContext) -> None:
    """DoD cyber measures, each answering one serious KEV-grounded finding (and linked to a few more)."""
    rng = ctx.rng
    states = ctx.deal(MEASURE_STATES)
    tlps = ctx.deal_shares(MEASURE_TLP_SHARES, len(states))
    usable = [f for f in ctx.findings if f.state not in CLOSED_FINDING_STATES]
    serious = [f for f in usable if f.cve_id and f.severity in ("HIGH", "CRITICAL")]
    dod = ctx.officers["DOD"]
    partners = [ctx.officers[code] for code in ("NSA", "CISA", "ODNI")]
    ids = await ctx.reserve_ids("cyber_measures", len(states))
    rows: list[dict[str, Any]] = []
    finding_links: list[tuple[int, int]] = []
    model_links: list[tuple[int, int]] = []
    for measure_id, state, tlp in zip(ids, states, tlps, strict=True):
        kind = ctx.weighted(c.MEASURE_KIND_WEIGHTS)
        primary = rng.choice(serious)
        linked = [primary, *rng.sample(usable, rng.randint(0, 4))]
        linked_ids = sorted({f.id for f in linked})
        product = primary.product_label
        scope = rng.choice(c.DOD_SCOPES)
        title = c.MEASURE_TITLES[kind].format(product=product, what=primary.cve_id, scope=scope)[:300]
        d3fend = rng.sample(c.D3FEND_BY_KIND[kind], rng.randint(1, min(3, len(c.D3FEND_BY_KIND[kind]))))
        attack = set(rng.sample(c.ATTACK_IDS, rng.randint(1, 3)))
        if rng.random() < 0.7:
            attack.add("T1190")  # most KEV entries are exploited public-facing applications
        controls = sorted(set(rng.sample(c.NIST_CONTROLS_BY_KIND[kind], rng.randint(1, 3))))
        evidence = None
        if state == "VERIFIED" or (state in ("DEPLOYED", "RETIRED") and rng.random() < 0.5):
            checked = ctx.today - timedelta(days=rng.randint(2, 60))
            evidence = (
                f"{FICTIONAL} Verification on {checked.isoformat()}: {rng.randint(0, 3)} of "
                f"{rng.randint(40, 900)} in-scope hosts still exposed to {primary.cve_id}; "
                "change tickets closed."
            )
        share_agencies: list[int] = []
        recipients: list[int] = []
        if tlp == "AMBER":
            share_agencies = ctx.other_agency_ids(["DOD"], rng.randint(0, 3))
        elif tlp == "RED":
            recipients = sorted(rng.sample(partners, rng.randint(1, 2)))
        description = (
            f"{FICTIONAL} DoD response to {primary.cve_id} ({product}), first flagged in finding {primary.id}."
        )
        rows.append(
            {
                "id": measure_id,
                "title": title,
                "description": description,
                "kind": kind,
                "state": state,
                "system_scope": scope,
                "owner_component": rng.choice(c.DOD_COMPONENTS),
                "d3fend_ids": sorted(d3fend),
                "attack_ids": sorted(attack),
                "nist80053_controls": controls,
                "evidence": evidence,
                "tlp": tlp,
                "owner_agency_id": ctx.agency_ids["DOD"],
                "share_agency_ids": share_agencies,
                "share_lab_ids": [],  # measures concern no lab
                "recipient_principal_ids": recipients,
                "created_by": dod,
            }
        )
        finding_links.extend((measure_id, finding_id) for finding_id in linked_ids)
        models = sorted({f.model.id for f in linked if f.model is not None})
        model_links.extend((measure_id, model_id) for model_id in models[: rng.randint(0, 2)])
        ctx.event("MEASURE", measure_id, state, created_by=dod, transitioned_by=dod)
    await ctx.copy_rows("cyber_measures", rows)
    await ctx.copy("measure_findings", ("measure_id", "finding_id"), finding_links)
    await ctx.copy("measure_models", ("measure_id", "model_id"), model_links)


def _milestones(ctx: DemoContext, engagement_id: int, state: str) -> list[_Milestone]:
    """1-4 milestones in order; open engagements have one current milestone past its date, due soon or later."""
    rng = ctx.rng
    count = rng.randint(1, 4)
    later = sorted(rng.sample(range(1, len(c.MILESTONE_TITLES)), count - 1))
    titles = [c.MILESTONE_TITLES[i] for i in [0, *later]]
    today = ctx.today
    rows: list[_Milestone] = []
    if state == "COMPLETED":
        due = today - timedelta(days=rng.randint(40, 150))
        for title in titles:
            rows.append((engagement_id, title, due, min(due + timedelta(days=rng.randint(-3, 2)), today)))
            due += timedelta(days=rng.randint(7, 20))
        return rows
    if state == "PROPOSED":
        due = today + timedelta(days=rng.randint(3, 30))
        for title in titles:
            rows.append((engagement_id, title, due, None))
            due += timedelta(days=rng.randint(10, 30))
        return rows
    if state in ("DECLINED", "WITHDRAWN"):
        due = today - timedelta(days=rng.randint(20, 90))
        for i, title in enumerate(titles):
            rows.append((engagement_id, title, due, due if i == 0 and rng.random() < 0.5 else None))
            due += timedelta(days=rng.randint(10, 30))
        return rows
    # SCOPING, ACTIVE, PAUSED: milestones before the current one are done.
    current = rng.randint(0, len(titles) - 1)
    mode = rng.choices(("past", "soon", "later"), weights=(3, 3, 2))[0]
    if mode == "past":
        current_due = today - timedelta(days=rng.randint(1, 21))
    elif mode == "soon":
        current_due = today + timedelta(days=rng.randint(0, 7))
    else:
        current_due = today + timedelta(days=rng.randint(8, 45))
    for i, title in enumerate(titles):
        if i < current:
            due = current_due - timedelta(days=14 * (current - i) + rng.randint(0, 5))
            done: date | None = min(due + timedelta(days=rng.randint(-2, 3)), today - timedelta(days=1))
        else:
            due = current_due + timedelta(days=14 * (i - current))
            done = None
        rows.append((engagement_id, title, due, done))
    return rows


async def insert_engagements(ctx: DemoContext) -> None:
    """CISA engagements with labs for fictional counterparties, in every sector, with milestones."""
    rng = ctx.rng
    states = ctx.deal(ENGAGEMENT_STATES)
    tlps = ctx.deal_shares(TLP_SHARES, len(states))
    sectors = list(c.SECTORS)
    rng.shuffle(sectors)
    sectors += [ctx.weighted(c.SECTOR_WEIGHTS) for _ in range(len(states) - len(sectors))]
    lab_weights = {
        name: (4 if name in (lab.name for lab in c.REAL_LABS) else 1)
        for name, lab_id in ctx.labs.items()
        if ctx.lab_participation[lab_id] in ("PARTICIPATING", "ENGAGED")
    }
    findings_by_sector: dict[str, list[DemoFinding]] = {}
    for f in ctx.findings:
        if f.state not in CLOSED_FINDING_STATES:
            for sector in f.sectors:
                findings_by_sector.setdefault(sector, []).append(f)
    cisa = ctx.officers["CISA"]
    counterparts = await DemoCounterparts.start(ctx)
    ids = await ctx.reserve_ids("infrastructure_engagements", len(states))
    rows: list[dict[str, Any]] = []
    finding_links: list[tuple[int, int]] = []
    milestones: list[_Milestone] = []
    for engagement_id, state, tlp, sector in zip(ids, states, tlps, sectors, strict=True):
        lab_name = ctx.weighted(lab_weights)
        lab_id = ctx.labs[lab_name]
        kind = ctx.weighted(ENGAGEMENT_KIND_WEIGHTS)
        counterparty = rng.choice(c.COUNTERPARTIES[sector])
        title = f"{c.ENGAGEMENT_KIND_LABELS[kind]} with {lab_name}: {counterparty}"
        summary = (
            f"{FICTIONAL} CISA, {lab_name} and {counterparty} work on the counterparty's exposure to "
            f"vulnerabilities that frontier models find ({c.ENGAGEMENT_KIND_LABELS[kind].lower()})."
        )
        sector_agency = c.SECTOR_AGENCY.get(sector)
        share_agencies: list[int] = []
        share_labs: list[int] = []
        recipients: list[int] = []
        if tlp == "AMBER":
            codes: set[str] = set()
            if sector_agency and rng.random() < 0.8:
                codes.add(sector_agency)
            if rng.random() < 0.3:
                codes.add(rng.choice([code for code in c.AGENCY_CODES if code != "CISA"]))
            share_agencies = sorted(ctx.agency_ids[code] for code in codes)
            if rng.random() < 0.6:
                share_labs = [lab_id]
        elif tlp == "RED":
            candidates = [ctx.liaisons[lab_id]] if lab_id in ctx.liaisons else []
            candidates.append(ctx.officers[sector_agency or "NSA"])
            recipients = sorted(set(rng.sample(candidates, rng.randint(1, len(candidates)))))
        rows.append(
            {
                "id": engagement_id,
                "title": title[:300],
                "summary": summary,
                "lab_id": lab_id,
                "sector": sector,
                "kind": kind,
                "state": state,
                "tlp": tlp,
                "owner_agency_id": ctx.agency_ids["CISA"],
                "share_agency_ids": share_agencies,
                "share_lab_ids": share_labs,
                "recipient_principal_ids": recipients,
                "created_by": cisa,
            }
        )
        pool = findings_by_sector.get(sector, [])
        linked = rng.sample(pool, min(len(pool), 0 if state == "PROPOSED" else rng.randint(0, 5)))
        finding_links.extend((engagement_id, f.id) for f in sorted(linked, key=lambda f: f.id))
        milestones.extend(_milestones(ctx, engagement_id, state))
        ctx.event("ENGAGEMENT", engagement_id, state, created_by=cisa, transitioned_by=cisa)
        rows[-1].update(counterparts.link(engagement_id, counterparty, sector, state, lab_id))
    await counterparts.insert()
    await ctx.copy_rows("infrastructure_engagements", rows)
    await ctx.copy("engagement_findings", ("engagement_id", "finding_id"), finding_links)
    await ctx.copy("engagement_milestones", ("engagement_id", "title", "due_on", "completed_on"), milestones)


# Engagements in these states went ACTIVE: the lab accepted them and the counterpart consented first.
WENT_ACTIVE = ("ACTIVE", "COMPLETED", "PAUSED")
# What each fictional counterpart is, from words of its name (content.COUNTERPARTIES), first match wins.
COUNTERPART_KIND_WORDS = (
    ("Rural hospital", "RURAL_HOSPITAL"),
    ("Critical access hospital", "RURAL_HOSPITAL"),
    ("hospital", "HOSPITAL"),
    ("health center", "HEALTH_CENTER"),
    ("Electric cooperative", "ELECTRIC_UTILITY"),
    ("power utility", "ELECTRIC_UTILITY"),
    ("Hydroelectric", "ELECTRIC_UTILITY"),
    ("Natural gas", "NATURAL_GAS_UTILITY"),
    ("Water", "WATER_UTILITY"),
    ("water", "WATER_UTILITY"),
    ("911", "EMERGENCY_SERVICES"),
    ("fire district", "EMERGENCY_SERVICES"),
    ("County", "STATE_OR_LOCAL_GOVERNMENT"),
    ("City hall", "STATE_OR_LOCAL_GOVERNMENT"),
    ("Levee district", "STATE_OR_LOCAL_GOVERNMENT"),
    ("broadband", "COMMUNICATIONS_PROVIDER"),
    ("carrier", "COMMUNICATIONS_PROVIDER"),
    ("bank", "FINANCIAL_INSTITUTION"),
    ("Credit union", "FINANCIAL_INSTITUTION"),
    ("airport", "TRANSPORTATION_OPERATOR"),
    ("railroad", "TRANSPORTATION_OPERATOR"),
    ("Port authority", "TRANSPORTATION_OPERATOR"),
    ("manufacturer", "MANUFACTURER"),
    ("supplier", "MANUFACTURER"),
    ("Machine shop", "MANUFACTURER"),
)


def counterpart_kind(name: str) -> str:
    return next((kind for words, kind in COUNTERPART_KIND_WORDS if words in name), "OTHER")


def counterpart_region(name: str) -> str | None:
    """The state a fictional counterpart's name places it in ("... in Kansas (fictional)")."""
    found = re.search(r" in ([A-Z][a-z]+(?: [A-Z][a-z]+)*) \(fictional\)$", name)
    return found.group(1) if found else None


class DemoCounterparts:
    """The engagements' counterparts: one fictional record per name, registered by CISA; and, for the engagements
    that went ACTIVE with a lab taking part, the lab's acceptance and the counterpart's consent, each with its event
    before the engagement's move (docs/workflows.md, "Infrastructure engagements")."""

    def __init__(self, ctx: DemoContext, ids: list[int]) -> None:
        self.ctx = ctx
        self.free_ids = ids
        self.by_name: dict[str, int] = {}
        self.rows: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, ctx: DemoContext) -> DemoCounterparts:
        count = sum(len(names) for names in c.COUNTERPARTIES.values())
        return cls(ctx, await ctx.reserve_ids("infrastructure_counterparts", count))

    def link(self, engagement_id: int, name: str, sector: str, state: str, lab_id: int) -> dict[str, Any]:
        """The engagement's counterpart, acceptance and consent columns; called right after the engagement's events
        (ctx.event), whose history gets the counterpart's registration first and the acceptance and consent before
        its move."""
        ctx = self.ctx
        cisa = ctx.officers["CISA"]
        events = ctx.events
        own = 1 if state == "PROPOSED" else 2  # CREATED, and TRANSITIONED when it moved
        if name not in self.by_name:
            self.by_name[name] = counterpart_id = self.free_ids.pop(0)
            self.rows.append(
                {
                    "id": counterpart_id,
                    "name": name,
                    "kind": counterpart_kind(name),
                    "sector": sector,
                    "region": counterpart_region(name),
                    "owner_agency_id": ctx.agency_ids["CISA"],
                    "created_by": cisa,
                }
            )
            registered = (*ctx._actor(cisa), "COUNTERPART", counterpart_id, "REGISTERED", None, None)
            events.insert(len(events) - own, registered)
        columns: dict[str, Any] = {
            "counterpart_id": self.by_name[name],
            "lab_accepted_at": None,
            "lab_accepted_by": None,
            "counterpart_consent": None,
            "counterpart_consent_ref": None,
            "counterpart_consent_recorded_at": None,
            "counterpart_consent_recorded_by": None,
        }
        if state in WENT_ACTIVE and ctx.lab_participation[lab_id] in ("PARTICIPATING", "ENGAGED"):
            liaison = ctx.liaisons.get(lab_id)
            columns.update(
                lab_accepted_at=ctx.at(-21),
                lab_accepted_by=liaison,
                counterpart_consent=True,
                counterpart_consent_ref=f"CISA consent record {engagement_id} (fictional)",
                counterpart_consent_recorded_at=ctx.at(-20),
                counterpart_consent_recorded_by=cisa,
            )
            by_lab = ctx._actor(liaison) if liaison is not None else (None, None, lab_id)
            events.insert(len(events) - 1, (*by_lab, "ENGAGEMENT", engagement_id, "LAB_ACCEPTED", None, None))
            consent = (*ctx._actor(cisa), "ENGAGEMENT", engagement_id, "COUNTERPART_CONSENT_RECORDED", None, None)
            events.insert(len(events) - 1, consent)
        return columns

    async def insert(self) -> None:
        await self.ctx.copy_rows("infrastructure_counterparts", self.rows)
