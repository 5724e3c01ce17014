"""The program side of the demo: labs, demo principals, models, early-access agreements and coverage (the
coverage records are in hub/demo/coverage.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from hub.demo import content as c
from hub.demo.context import FICTIONAL, DemoContext, DemoModel
from hub.demo.coverage import compute_plan, insert_decisions, insert_inputs, insert_standards, insert_suites

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


async def insert_program(ctx: DemoContext) -> None:
    """Labs, principals, models, agreements, standards and decisions, in dependency order."""
    await insert_labs(ctx)
    await insert_principals(ctx)
    await insert_models(ctx)
    await insert_agreements(ctx)
    await insert_suites(ctx)
    await insert_standards(ctx)
    await insert_inputs(ctx)
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
        for family, modality in c.FICTIONAL_FAMILIES.get(lab.name, ()):
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
    if spec.name in c.NOT_PLANNED_FOR_GENERAL_AVAILABILITY:
        return None
    if spec.release_status == c.IN_DEVELOPMENT:
        return ctx.today + timedelta(days=ctx.rng.randint(20, 150))
    if spec.release_status == c.PREVIEW:
        return ctx.today + timedelta(days=ctx.rng.randint(5, 60))
    return spec.announced_on


def _model_description(spec: c.ModelSpec) -> str:
    if c.is_fictional(spec.lab):
        return f"{FICTIONAL} A model of {spec.lab}."
    assert spec.announced_on is not None, "the real models are the publicly announced ones"
    facts = f"{spec.name} by {spec.lab}, publicly announced {spec.announced_on.isoformat()}"
    if spec.name in c.NOT_PLANNED_FOR_GENERAL_AVAILABILITY:
        facts += " as a restricted preview, which the lab said it does not plan to make generally available"
    # the confidential fields (compute, planned release, capability details) and every program record are invented
    return (
        f"{facts}. Only its name, identifier and announcement date are public facts; what the program holds about "
        f"it is fictional. {FICTIONAL}"
    )


async def insert_models(ctx: DemoContext) -> None:
    """The real models, the hand-written fictional ones, then three generations of two families per generated
    fictional lab."""
    specs = list(c.REAL_MODELS) + list(c.FICTIONAL_MODELS) + _fictional_model_specs(ctx)
    ids = await ctx.reserve_ids("frontier_models", len(specs))
    rows: list[dict[str, Any]] = []
    for index, (model_id, spec) in enumerate(zip(ids, specs, strict=True)):
        lab_id = ctx.labs[spec.lab]
        # the lab-reported total of the model's compute estimate (hub/demo/coverage.py), or none
        flop = compute_plan(index, spec, ctx.lab_participation[lab_id]).legacy_flop
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
        ctx.model_specs[model_id] = spec
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
