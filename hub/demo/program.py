"""The program side of the demo: labs, demo principals, models, early-access agreements and coverage."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub.demo import content as c
from hub.demo.context import FICTIONAL, DemoContext, DemoModel

AGREEMENT_STATES = {"ACTIVE": 30, "COMPLETED": 48, "PROPOSED": 20, "WITHDRAWN_BY_LAB": 12, "TERMINATED": 10}
AGREEMENTS_CLOSING_SOON = 8
AGREEMENT_AGENCY_WEIGHTS = {
    "CISA": 5, "NIST": 5, "NSA": 3, "DOD": 3, "DOE": 2, "HHS": 1, "TREASURY": 1, "ODNI": 1, "EPA": 1,
}  # fmt: skip
PROTECTIONS = (
    "CONFIDENTIALITY",
    "CYBERSECURITY",
    "INSIDER_RISK",
    "INTELLECTUAL_PROPERTY",
    "USE",
    "NONDISCLOSURE",
)
DECISION_STATES = {
    "DECIDED": 65,
    "REQUESTED": 18,
    "UNDER_ASSESSMENT": 22,
    "RECONSIDERATION_REQUESTED": 10,
    "SUPERSEDED": 20,
    "WITHDRAWN": 15,
}
OUTCOMES = ("COVERED", "NOT_COVERED", "INSUFFICIENT_INFORMATION")
# States of a decision that carry an outcome (a reconsideration keeps the decision it questions).
DECIDED_STATES = ("DECIDED", "RECONSIDERATION_REQUESTED", "SUPERSEDED")


async def insert_program(ctx: DemoContext) -> None:
    """Labs, principals, models, agreements, standards and decisions, in dependency order."""
    await insert_labs(ctx)
    await insert_principals(ctx)
    await insert_models(ctx)
    await insert_agreements(ctx)
    await insert_standards(ctx)
    await insert_decisions(ctx)


async def insert_labs(ctx: DemoContext) -> None:
    """The real labs and the fictional ones, each in its participation state."""
    ids = await ctx.reserve_ids("labs", len(c.DEMO_LABS))
    records = []
    for lab_id, lab in zip(ids, c.DEMO_LABS, strict=True):
        ctx.labs[lab.name] = lab_id
        ctx.lab_participation[lab_id] = lab.participation
        records.append((lab_id, lab.name, lab.legal_name, lab.country, lab.website, lab.participation))
        ctx.event("LAB", lab_id, lab.participation, created_by=None)
    await ctx.copy("labs", ("id", "name", "legal_name", "country", "website", "participation"), records)


async def insert_principals(ctx: DemoContext) -> None:
    """One OFFICER per agency and one LAB_LIAISON per liaison lab, named for the CLI; no tokens."""
    specs: list[tuple[int | None, int | None, str, str]] = []
    for code in c.AGENCY_CODES:
        specs.append((ctx.agency_ids[code], None, "OFFICER", c.demo_officer_name(code)))
    for lab_name in c.LIAISON_LABS:
        specs.append((None, ctx.labs[lab_name], "LAB_LIAISON", c.demo_liaison_name(lab_name)))
    ids = await ctx.reserve_ids("principals", len(specs))
    for principal_id, (agency_id, lab_id, role, _name) in zip(ids, specs, strict=True):
        ctx.principal_scope[principal_id] = (agency_id, lab_id)
        if role == "OFFICER":
            code = next(k for k, v in ctx.agency_ids.items() if v == agency_id)
            ctx.officers[code] = principal_id
        else:
            assert lab_id is not None
            ctx.liaisons[lab_id] = principal_id
    records = [(pid, *spec) for pid, spec in zip(ids, specs, strict=True)]
    await ctx.copy("principals", ("id", "agency_id", "lab_id", "role", "name"), records)


def _fictional_model_specs(ctx: DemoContext) -> list[c.ModelSpec]:
    rng = ctx.rng
    specs = []
    for lab in c.FICTIONAL_LABS:
        for family, modality in c.FICTIONAL_FAMILIES[lab.name]:
            first_gen = rng.randint(1, 3)
            for step in range(3):
                generation = first_gen + step
                if step == 0:
                    status = c.DEPRECATED if rng.random() < 0.7 else c.GA
                    announced: date | None = ctx.today - timedelta(days=rng.randint(480, 820))
                elif step == 1:
                    status = c.GA
                    announced = ctx.today - timedelta(days=rng.randint(120, 400))
                else:
                    status = c.PREVIEW if rng.random() < 0.5 else c.IN_DEVELOPMENT
                    announced = ctx.today - timedelta(days=rng.randint(5, 60)) if status == c.PREVIEW else None
                pool = c.CAPABILITIES_BY_MODALITY[modality]
                for variant in ("", " Mini"):
                    capabilities = tuple(sorted(rng.sample(pool, rng.randint(2, min(4, len(pool))))))
                    version = f"{generation}.{rng.randint(0, 5)}" if variant == "" else f"{generation}.0-mini"
                    specs.append(
                        c.ModelSpec(
                            lab.name,
                            f"{family} {generation}{variant} (fictional)",
                            version,
                            modality,
                            capabilities,
                            status,
                            announced,
                        )
                    )
    return specs


def _compute_flop(ctx: DemoContext, spec: c.ModelSpec) -> float | None:
    if ctx.rng.random() < 0.12:
        return None
    small = "mini" in spec.model_version.lower() or "Mini" in spec.name or spec.modality in ("IMAGE", "AUDIO")
    exponent = ctx.rng.uniform(23.5, 25.0) if small else ctx.rng.uniform(25.0, 26.7)
    return float(f"{10**exponent:.3g}")


def _capability_details(ctx: DemoContext, spec: c.ModelSpec) -> str | None:
    if ctx.rng.random() < 0.1:
        return None
    phrases = {
        "vulnerability-discovery": "finds memory-safety and logic flaws in unfamiliar code bases",
        "agentic": "completes multi-step tasks with tools over long horizons",
        "code": "writes and repairs production code",
        "bio": "answers expert-level questions in molecular biology",
        "chem": "plans multi-step chemical syntheses",
        "reasoning": "solves competition-level reasoning problems",
    }
    found = [phrases[cap] for cap in spec.capabilities if cap in phrases] or ["performs as its modality suggests"]
    return f"Fictional demo value, not the lab's data: internal evaluations say the model {'; '.join(found)}."


def _planned_release(ctx: DemoContext, spec: c.ModelSpec) -> date | None:
    if spec.release_status == c.IN_DEVELOPMENT:
        return ctx.today + timedelta(days=ctx.rng.randint(20, 150))
    if spec.release_status == c.PREVIEW:
        return ctx.today + timedelta(days=ctx.rng.randint(5, 60))
    return spec.announced_on


def _model_description(spec: c.ModelSpec) -> str:
    if spec.lab in c.FICTIONAL_FAMILIES:
        return f"Fictional demo model of {spec.lab}."
    if spec.announced_on is None:
        return f"{spec.lab} model offered to agencies as a restricted preview."
    return f"{spec.name} by {spec.lab}, publicly announced {spec.announced_on.isoformat()}."


async def insert_models(ctx: DemoContext) -> None:
    """The real models, then three generations of two families per fictional lab."""
    specs = list(c.REAL_MODELS) + _fictional_model_specs(ctx)
    ids = await ctx.reserve_ids("frontier_models", len(specs))
    rows: list[dict[str, Any]] = []
    for model_id, spec in zip(ids, specs, strict=True):
        lab_id = ctx.labs[spec.lab]
        flop = _compute_flop(ctx, spec)
        rows.append(
            {
                "id": model_id,
                "lab_id": lab_id,
                "name": spec.name,
                "model_version": spec.model_version,
                "modality": spec.modality,
                "description": _model_description(spec),
                "capabilities": list(spec.capabilities),
                "training_compute_flop": flop,
                "capability_details": _capability_details(ctx, spec),
                "planned_release_on": _planned_release(ctx, spec),
                "release_status": spec.release_status,
                "announced_on": spec.announced_on,
            }
        )
        ctx.models.append(
            DemoModel(
                model_id,
                lab_id,
                spec.name,
                spec.model_version,
                spec.capabilities,
                spec.release_status,
                flop,
            )
        )
        liaison = ctx.liaisons.get(lab_id)
        ctx.event("MODEL", model_id, spec.release_status, created_by=liaison, transitioned_by=liaison)
    await ctx.copy_rows("frontier_models", rows)


def _agreement_window(ctx: DemoContext, state: str, closing_soon: bool) -> tuple[datetime, datetime]:
    rng = ctx.rng
    if state == "ACTIVE" and closing_soon:
        end_offset = rng.randint(1, 7)
        duration = rng.randint(end_offset + 3, 30)
        end = ctx.at(end_offset, 17)
        return end - timedelta(days=duration), end
    if state == "ACTIVE":
        start_offset = -rng.randint(2, 20)
        start = ctx.at(start_offset, 14)
        return start, start + timedelta(days=rng.randint(-start_offset + 8, 30))
    if state == "COMPLETED":
        end = ctx.at(-rng.randint(1, 240), 17)
        return end - timedelta(days=rng.randint(7, 30)), end
    if state == "PROPOSED":
        start = ctx.at(rng.randint(3, 40), 14)
        return start, start + timedelta(days=rng.randint(14, 30))
    if state == "WITHDRAWN_BY_LAB":
        start = ctx.at(rng.randint(-60, 30), 14)
        return start, start + timedelta(days=rng.randint(7, 30))
    start = ctx.at(-rng.randint(10, 120), 14)  # TERMINATED
    return start, start + timedelta(days=rng.randint(14, 30))


def _agreement_models(ctx: DemoContext, states: list[str]) -> list[DemoModel]:
    """A model per agreement: previews for open ones, anything a participating lab has for closed ones."""
    rng = ctx.rng
    open_labs = {lab_id for lab_id, p in ctx.lab_participation.items() if p in ("PARTICIPATING", "ENGAGED")}
    any_labs = open_labs | {lab_id for lab_id, p in ctx.lab_participation.items() if p == "WITHDRAWN"}
    previews = [m for m in ctx.models if m.lab_id in open_labs and m.release_status in (c.PREVIEW, c.IN_DEVELOPMENT)]
    rng.shuffle(previews)
    others = [m for m in ctx.models if m.lab_id in any_labs and m.release_status != c.IN_DEVELOPMENT]
    mythos = ctx.model_named("Claude Mythos Preview")
    previews.remove(mythos)
    chosen = []
    for state in states:
        if state in ("ACTIVE", "PROPOSED"):
            chosen.append(previews.pop() if previews else rng.choice(others))
        else:
            chosen.append(rng.choice(others))
    return chosen


async def insert_agreements(ctx: DemoContext) -> None:
    """Early-access agreements in every state, with their agencies; several ACTIVE ones close this week."""
    rng = ctx.rng
    states = ctx.deal(AGREEMENT_STATES)
    # The flagship preview: open now, closing within the week, shared with the cyber agencies.
    first_active = states.index("ACTIVE")
    models = _agreement_models(ctx, states)
    models[first_active] = ctx.model_named("Claude Mythos Preview")
    ids = await ctx.reserve_ids("early_access_agreements", len(states))
    rows: list[dict[str, Any]] = []
    parties: list[tuple[int, int, datetime | None, int | None]] = []
    closing_soon_left = AGREEMENTS_CLOSING_SOON
    for n, (agreement_id, state, model) in enumerate(zip(ids, states, models, strict=True), start=1):
        closing_soon = state == "ACTIVE" and closing_soon_left > 0
        closing_soon_left -= closing_soon
        start, end = _agreement_window(ctx, state, closing_soon)
        kinds = [kind for kind, p in (("API", 0.8), ("WEIGHTS", 0.2), ("SANDBOX", 0.5)) if rng.random() < p]
        kinds = kinds or ["API"]
        protections = [p for p in PROTECTIONS if p in ("CONFIDENTIALITY", "CYBERSECURITY") or rng.random() < 0.5]
        if n - 1 == first_active:
            codes = ["CISA", "NSA", "DOD"]
        else:
            codes = ctx.weighted_sample(AGREEMENT_AGENCY_WEIGHTS, rng.randint(1, 3))
        liaison = ctx.liaisons.get(model.lab_id)
        rows.append(
            {
                "id": agreement_id,
                "model_id": model.id,
                "lab_id": model.lab_id,
                "state": state,
                "access_kinds": kinds,
                "access_start": start,
                "access_end": end,
                "protections": protections,
                "lab_consent_ref": f"LAB-CONSENT-{start.year}-{n:04d}",
                "notes": f"{FICTIONAL} Preview access to {model.label} for {', '.join(codes)}.",
                "created_by": liaison,
            }
        )
        accepted_codes: list[str] = []
        for i, code in enumerate(codes):
            accepts = state in ("ACTIVE", "COMPLETED", "TERMINATED") and (i == 0 or rng.random() < 0.7)
            accepts = accepts or (state == "WITHDRAWN_BY_LAB" and rng.random() < 0.3)
            if accepts:
                accepted_codes.append(code)
                accepted_at = start - timedelta(days=rng.randint(1, 5), hours=rng.randint(0, 8))
                parties.append((agreement_id, ctx.agency_ids[code], accepted_at, ctx.officers[code]))
            else:
                parties.append((agreement_id, ctx.agency_ids[code], None, None))
        if state == "ACTIVE" or state == "TERMINATED":
            mover: int | None = ctx.officers[accepted_codes[0] if accepted_codes else codes[0]]
        elif state == "WITHDRAWN_BY_LAB":
            mover = liaison
        else:
            mover = None  # COMPLETED at accessEnd by the scheduler
        ctx.event("AGREEMENT", agreement_id, state, created_by=liaison, transitioned_by=mover)
    await ctx.copy_rows("early_access_agreements", rows)
    await ctx.copy("agreement_agencies", ("agreement_id", "agency_id", "accepted_at", "accepted_by"), parties)


def _criterion(kind: str, description: str, threshold: float | None) -> dict[str, Any]:
    return {"kind": kind, "description": description, "threshold": threshold}


COMPUTE_CRITERION = _criterion("COMPUTE_THRESHOLD", "Training compute above 10^26 operations", 1e26)
CYBER_CRITERION = _criterion(
    "CAPABILITY_EVAL",
    "Discovers and exploits previously unknown vulnerabilities in the program's evaluation suite at or above "
    "the reference success rate",
    0.5,
)
AGENTIC_CRITERION = _criterion(
    "CAPABILITY_EVAL",
    "Completes autonomous multi-step intrusion tasks in the cyber range at or above the reference success rate",
    0.3,
)
BIO_CRITERION = _criterion("CAPABILITY_EVAL", "Uplift on expert biology question sets above the reference level", 0.25)
DESIGNATION_CRITERION = _criterion(
    "DESIGNATION", "Designated jointly by CISA and NIST on a lab's or an agency's request", None
)


@dataclass(frozen=True)
class _StandardSpec:
    version: str
    title: str
    state: str
    criteria: list[dict[str, Any]]
    due_on: date
    owner: str
    signers: list[str]
    adopted_at: datetime | None = None


async def insert_standards(ctx: DemoContext) -> None:
    """Five coverage standards: 0.5 withdrawn, 0.9 superseded by 1.0 (adopted), 1.1 in review, 1.2 a draft.

    1.0 is due when the policy says (order date + standard due days) and adopted a few days before, or two
    weeks ago when the demo date comes earlier; the open ones are due within the week (1.1) and overdue (1.2).
    """
    policy = ctx.policy
    assert policy is not None, "load_reference() reads the policy first"
    due = policy["order_date"] + timedelta(days=policy["standard_due_days"])
    required = list(policy["required_signoffs"])
    adoption_day = min(due - timedelta(days=3), ctx.today - timedelta(days=14))
    adopted_1_0 = datetime.combine(adoption_day, time(15), tzinfo=UTC)
    adopted_0_9 = adopted_1_0 - timedelta(days=21)
    compute, cyber, agentic = COMPUTE_CRITERION, CYBER_CRITERION, AGENTIC_CRITERION
    bio, designation = BIO_CRITERION, DESIGNATION_CRITERION
    specs = [
        _StandardSpec("0.5", "Interim compute-only screen", "WITHDRAWN",
                      [{**compute, "threshold": 1e25}], due, "CISA", []),
        _StandardSpec("0.9", "Interim coverage standard for frontier models", "SUPERSEDED",
                      [compute, designation], due, "NIST", required, adopted_0_9),
        _StandardSpec("1.0", "Coverage standard for frontier models", "ADOPTED",
                      [compute, cyber, designation], due, "CISA", required, adopted_1_0),
        _StandardSpec("1.1", "Coverage standard for frontier models: agentic cyber update", "IN_REVIEW",
                      [compute, cyber, agentic, designation], ctx.today + timedelta(days=5), "NIST",
                      required[-1:]),
        _StandardSpec("1.2", "Coverage standard for frontier models: biology evaluations", "DRAFT",
                      [compute, cyber, agentic, bio, designation], ctx.today - timedelta(days=3), "CISA", []),
    ]  # fmt: skip
    ids = await ctx.reserve_ids("coverage_standards", len(specs))
    ctx.standards.ids = {spec.version: standard_id for standard_id, spec in zip(ids, specs, strict=True)}
    rows: dict[str, tuple[Any, ...]] = {}
    signoffs = []
    for standard_id, spec in zip(ids, specs, strict=True):
        officer = ctx.officers[spec.owner]
        superseded_by = ctx.standards.ids["1.0"] if spec.state == "SUPERSEDED" else None
        summary = f"{FICTIONAL} Version {spec.version} of the program's coverage standard ({spec.state.lower()})."
        rows[spec.version] = (
            standard_id, spec.version, spec.title, summary, spec.state, spec.criteria, required, spec.due_on,
            ctx.agency_ids[spec.owner], officer, spec.adopted_at, superseded_by,
        )  # fmt: skip
        # signed a day or two before adoption (or, for a standard in review, before today)
        signed_by = spec.adopted_at or ctx.at(-2, 16)
        for n, code in enumerate(reversed(spec.signers), start=1):
            signed_at = signed_by - timedelta(days=n, hours=n)
            signoffs.append((standard_id, ctx.agency_ids[code], ctx.officers[code], signed_at))
        if spec.adopted_at is not None:
            ctx.standards.adopted_at[spec.version] = spec.adopted_at
        ctx.event("STANDARD", standard_id, spec.state, created_by=officer, transitioned_by=officer)
    # Row by row (the jsonb codec has no binary COPY format), 1.0 before the 0.9 that points at it.
    await ctx.con.executemany(
        """insert into coverage_standards (id, standard_version, title, summary, state, criteria,
               required_signoffs, due_on, owner_agency_id, created_by, adopted_at, superseded_by_id)
           overriding system value values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        [rows[version] for version in ("0.5", "1.0", "0.9", "1.1", "1.2")],
    )
    await ctx.copy("coverage_signoffs", ("standard_id", "agency_id", "principal_id", "signed_at"), signoffs)


def _outcome(ctx: DemoContext, model: DemoModel) -> str:
    """A plausible outcome: big or vulnerability-finding models are covered; unknown compute, a guess."""
    if ctx.rng.random() < 0.15 or model.training_compute_flop is None:
        return ctx.rng.choice(OUTCOMES)
    if model.training_compute_flop >= 1e26 or "vulnerability-discovery" in model.capabilities:
        return "COVERED"
    return "NOT_COVERED"


def _show_every_outcome(states: list[str], outcomes: list[str | None]) -> None:
    """Give any outcome missing among DECIDED records to one record of the commonest outcome, in place."""
    decided = [i for i, state in enumerate(states) if state == "DECIDED"]
    for outcome in OUTCOMES:
        if any(outcomes[i] == outcome for i in decided):
            continue
        common = Counter(outcomes[i] for i in decided).most_common(1)[0][0]
        outcomes[next(i for i in decided if outcomes[i] == common)] = outcome


def _rationale(outcome: str, version: str) -> str:
    reasons = {
        "COVERED": "meets a criterion of the standard (compute or cyber capability)",
        "NOT_COVERED": "meets none of the criteria of the standard",
        "INSUFFICIENT_INFORMATION": "the lab's submission lacks the evaluation results the standard asks for",
    }
    return f"{FICTIONAL} Under standard {version}, the model {reasons[outcome]}."


async def insert_decisions(ctx: DemoContext) -> None:
    """Coverage decisions under standard 1.0, and superseded ones under 0.9 of models decided again since."""
    rng = ctx.rng
    states = ctx.deal(DECISION_STATES)
    candidates = [m for m in ctx.models if ctx.lab_participation[m.lab_id] != "DECLINED"]
    current = iter(rng.sample(candidates, len(states) - states.count("SUPERSEDED")))
    models = [next(current) if state != "SUPERSEDED" else None for state in states]
    redecided = [m for m, state in zip(models, states, strict=True) if m and state in DECIDED_STATES]
    earlier = iter(rng.sample(redecided, states.count("SUPERSEDED")))
    plan = [(state, model or next(earlier)) for state, model in zip(states, models, strict=True)]
    outcomes = [_outcome(ctx, model) if state in DECIDED_STATES else None for state, model in plan]
    _show_every_outcome(states, outcomes)

    adopted = ctx.standards.adopted_at
    days_in_force = max(2, (ctx.at(0, 0) - adopted["1.0"]).days)
    ids = await ctx.reserve_ids("coverage_decisions", len(states))
    rows: list[dict[str, Any]] = []
    for decision_id, (state, model), outcome in zip(ids, plan, outcomes, strict=True):
        version = "0.9" if state == "SUPERSEDED" else "1.0"
        if state == "SUPERSEDED":
            decided_at = adopted["0.9"] + timedelta(days=rng.randint(1, 19), hours=rng.randint(0, 6))
        else:
            decided_at = adopted["1.0"] + timedelta(days=rng.randint(1, days_in_force - 1), hours=rng.randint(0, 6))
        decider_code = rng.choice(("CISA", "NIST")) if outcome else None
        decider = ctx.officers[decider_code] if decider_code else None
        liaison = ctx.liaisons.get(model.lab_id)
        rows.append(
            {
                "id": decision_id,
                "model_id": model.id,
                "standard_id": ctx.standards.ids[version],
                "state": state,
                "outcome": outcome,
                "rationale": _rationale(outcome, version) if outcome else None,
                "request_note": f"{FICTIONAL} The lab asks whether standard {version} covers {model.label}.",
                "requested_by": liaison,
                "decided_by": decider,
                "decided_by_agency_id": ctx.agency_ids[decider_code] if decider_code else None,
                "decided_at": decided_at if outcome else None,
            }
        )
        if state in ("WITHDRAWN", "RECONSIDERATION_REQUESTED"):
            mover = liaison  # the lab withdraws, or asks again
        else:
            mover = decider or ctx.officers["NIST"]
        ctx.event("DECISION", decision_id, state, created_by=liaison, transitioned_by=mover)
    await ctx.copy_rows("coverage_decisions", rows)
